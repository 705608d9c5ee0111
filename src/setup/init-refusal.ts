// What `openclaw-sidecar init` says when it will not change a file: one sentence naming the file, the place in it and
// what to do. Nothing has been written when one is thrown.
export class InitRefusal extends Error {
  override name = "InitRefusal";
}
