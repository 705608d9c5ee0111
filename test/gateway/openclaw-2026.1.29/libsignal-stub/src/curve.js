// The names @whiskeysockets/baileys imports from libsignal/src/curve.js (see ../index.js).
"use strict";
const { unavailable } = require("../index.js");
exports.generateKeyPair = unavailable("generateKeyPair");
exports.calculateAgreement = unavailable("calculateAgreement");
exports.calculateSignature = unavailable("calculateSignature");
exports.verifySignature = unavailable("verifySignature");
