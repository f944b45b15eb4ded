export { createEmulatorApp, type EmulatorApp } from './app.js';
export { type Cell, DatasetReadError, readCsv, readParquet, type Table } from './dataset-reader.js';
export type { Counters, FittedSet, RecordedRequest, Upload } from './emulator-state.js';
export { EmulatorState } from './emulator-state.js';
export { type Fault, type FaultSpec, faultSpecSchema, ROUTES, type RouteName, seededRandom } from './faults.js';
export { KnnClassifier, KnnRegressor } from './knn-model.js';
export type { EmulatorLogger, EmulatorOptions, RateLimits, RuntimeConfig } from './options.js';
export { type RunningEmulator, startEmulator } from './server.js';
export { estimateCost } from './usage-meter.js';
