// The value codecs of client.proto live in src/protocol/wire-values.ts (the wire contract); this
// module keeps their SDK-side names for existing importers.
export {
  asArray,
  asNumber,
  asObject,
  asOptionalString,
  asString,
  errorFromWire,
  eventFromWire,
  leasedTaskFromWire,
  statsFromWire,
  taskViewFromWire,
} from '../protocol/wire-values.js';
