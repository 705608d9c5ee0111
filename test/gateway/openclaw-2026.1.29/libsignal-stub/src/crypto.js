// The names @whiskeysockets/baileys imports from libsignal/src/crypto.js (see ../index.js).
"use strict";
const { unavailable } = require("../index.js");
exports.deriveSecrets = unavailable("deriveSecrets");
exports.decrypt = unavailable("decrypt");
exports.encrypt = unavailable("encrypt");
exports.calculateMAC = unavailable("calculateMAC");
