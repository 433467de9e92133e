export {
  createLogger,
  logOnce,
  type Figures,
  type Logger,
  type LoggerOptions,
  type LogFields,
  type LogFormat,
  type LogLevel,
} from "./logger.js";
export { registerSecret } from "./redact.js";
export { shortHash } from "./format.js";
