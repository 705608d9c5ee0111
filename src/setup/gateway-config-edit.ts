// Reading and patching the gateway's openclaw.json (JSON5) without losing the user's comments, quoting, indentation
// or key order: @croct/json5-parser keeps a concrete syntax tree and writes new entries in the style around them.
import { JsonObjectNode, JsonParser } from "@croct/json5-parser";
import { InitRefusal } from "./init-refusal.ts";

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export class GatewayConfigFile {
  readonly file: string;
  readonly root: JsonObjectNode;

  constructor(text: string, file: string) {
    this.file = file;
    try {
      this.root = JsonParser.parse(text, JsonObjectNode);
    } catch (err) {
      throw new InitRefusal(`${file} is not a JSON5 object: ${(err as Error).message}`);
    }
  }

  toString(): string {
    return this.root.toString();
  }

  /** The plain value at `path` (undefined when any step is missing). */
  get(path: string[]): unknown {
    let value: unknown = this.root.toJSON();
    for (const key of path) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[key];
    }
    return value;
  }

  /** The object at `path`, created (empty) where missing; refused when something else is in the way. */
  object(path: string[]): JsonObjectNode {
    let node = this.root;
    const walked: string[] = [];
    for (const key of path) {
      walked.push(key);
      if (!node.has(key)) node.set(key, {});
      const next = node.get(key);
      if (!(next instanceof JsonObjectNode))
        throw new InitRefusal(`${this.file}: ${walked.join(".")} is not an object.`);
      node = next;
    }
    return node;
  }

  /** Sets `path` (its parents are created as objects). */
  set(path: string[], value: Json): void {
    const parent = this.object(path.slice(0, -1));
    parent.set(path[path.length - 1] as string, value);
  }

  /** Deletes `path` when present. */
  delete(path: string[]): void {
    if (this.get(path) === undefined) return;
    this.object(path.slice(0, -1)).delete(path[path.length - 1] as string);
  }
}
