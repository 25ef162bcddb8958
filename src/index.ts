/**
 * posterscope's library API. Everything exported here is public and typed;
 * every other module is internal.
 */

// Errors
export { PosterscopeError, type ErrorCode } from './errors.js';

// Posters and views
export { decodePoster, readPosterFile, DEFAULT_DECODE_OPTIONS, type Poster, type DecodeOptions } from './image/poster.js';
export { parseView, parseViews, viewName, renderView, VIEW_SETS, type ViewSpec, type ViewInput, type Crop } from './image/views.js';

// Backbones
export {
  BACKBONES,
  DEFAULT_BACKBONE,
  getBackboneSpec,
  loadBackboneSpec,
  type BackboneSpec,
  type FeatureSpec,
  type Normalization,
} from './backbone/registry.js';
export { loadBackbone, type Backbone, type LoadBackboneOptions } from './backbone/backbone.js';

// Model files
export {
  resolveModelFile,
  defaultCacheDir,
  type ModelFileSpec,
  type ResolveOptions,
  type ResolvedModelFile,
} from './models/resolve.js';

// Embeddings
export { EmbeddingCache, embeddingKey, type EmbeddingCacheOptions } from './embed/cache.js';
export { embedPosters, type EmbedOptions, type EmbedSummary, type EmbeddedPoster, type PosterSource } from './embed/pipeline.js';

// Progress
export { terminalProgress, silentProgress, type Progress } from './progress.js';
