export {
  createTabPFNAgent,
  DEFAULT_BASE_URL,
  DEFAULT_CLIENT_VERSION,
  TabPFNClient,
  type TabPFNClientOptions,
  type TokenStatus,
} from './client.js';
export {
  type ColumnInfo,
  type ColumnType,
  cleanText,
  type EncodedFeatures,
  type EncodedTarget,
  type EncodeFeaturesOptions,
  encodeCell,
  encodeFeatures,
  encodeFeatureColumns,
  type FeatureColumns,
  encodeTarget,
  isMissing,
  type Label,
  sortLabels,
  type TargetType,
} from './encode.js';
export * from './errors.js';
export { CsvTargetProfile, csvTargetValues, FeatureColumnProfile, featuresInMemorySizeBytes } from './column-profile.js';
export { CellPartWriter, CellsDigest, CSV_CELLS_FORMAT, CsvCellsEncoder, type CsvCellsLayout, splitCellPart } from './csv-cells.js';
export { buildFitBody, type FitCallOptions, type FitInput, type FitResult, type FitStage } from './fit.js';
export type { ClientLogger } from './http.js';
export { availableModels, modelPath, modelVersionFromPath, outputTypes, type Task } from './models.js';
export { crc32cBase64, type DecodedTable, decodeParquet, decodeParquetColumns, type ParquetColumn, writeParquet } from './parquet.js';
export { buildPredictBody, type PredictCallOptions, type PredictInput, type PredictResult, type PredictStage, type PreparedTestSet, type TestSetInfo, testSetInfo } from './predict.js';
export { defaultSettingsCache, type ModelLimit, type Settings, SettingsCache, SETTINGS_TTL_MS } from './settings.js';
export { normaliseUsage, type Usage } from './usage.js';
