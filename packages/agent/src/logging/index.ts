export { createLogger, createLogging, type ComponentLogger, type Logging } from './log-manager.js';
export { logSettingsOf, LogSettingsError, type LogProblem, type LogSection, type LogSettings } from './settings.js';
export { formatPlainLine, formatProblem, DEFAULT_FORMAT } from './python-format.js';
export { parsePythonLevel, pinoLevelOf } from './levels.js';
