// Empty stand-in for libsignal-node (see package.json): loading works, using it throws.
"use strict";
const unavailable = (name) => function () {
  throw new Error(`libsignal ${name}: not available (test stub; configure no WhatsApp channel)`);
};
exports.unavailable = unavailable;
exports.SessionCipher = unavailable("SessionCipher");
exports.SessionBuilder = unavailable("SessionBuilder");
exports.SessionRecord = { deserialize: unavailable("SessionRecord.deserialize") };
exports.ProtocolAddress = unavailable("ProtocolAddress");
