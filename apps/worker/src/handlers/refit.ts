import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { DatasetRepository, ModelRepository, ModelRow } from '@tabpfn-jobs/shared/repositories';
import { type TabPFNClient, modelPath } from '@tabpfn-jobs/tabpfn';
import { tabpfnConfigOf } from './fit.handler.js';

/**
 * Re-fits train sets upstream has forgotten, once per forgotten set: predicts (or a batch's chunks)
 * that find the same set gone at the same time in this process share one re-fit, and one that comes
 * after a re-fit by any process uses its result.
 */
/** How long a finished re-fit answers for the set it replaced (see `refitOnce`). */
const REFIT_REMEMBERED_MS = 60_000;

export function createRefitter(deps: { models: ModelRepository; datasets: DatasetRepository; logger: Logger }) {
  async function refit(client: TabPFNClient, model: ModelRow, signal: AbortSignal): Promise<ModelRow> {
    const dataset = model.dataset_id ? await deps.datasets.findWithData(model.dataset_id) : undefined;
    if (!dataset?.x_bytes || !dataset.y_bytes) throw new Error(`training data of model ${model.id} is gone; fit it again`);
    const out = await client.fit(
      {
        x: dataset.x_bytes,
        y: dataset.y_bytes,
        task: model.task,
        tabpfnConfig: tabpfnConfigOf(model),
        modelPath: modelPath(model.model_name, model.task),
      },
      { signal },
    );
    const updated = await deps.models.markReady(model.id, { uploadId: out.trainSetUploadId, fittedId: out.fittedTrainSetId });
    deps.logger.info({ model_id: model.id }, 'upstream had forgotten the train set; re-fitted');
    return updated ?? model;
  }

  /**
   * Re-fits by the set they replace (model id and forgotten fitted id). A settled success is kept a
   * while: a predict whose "forgotten" answer, or whose read of the model, lags behind a re-fit that
   * already ran (pool connections answer out of order under load) joins its result instead of
   * starting a second one. A failure is dropped at once, so the next predict tries again.
   */
  const refitting = new Map<string, Promise<ModelRow>>();
  return async function refitOnce(client: TabPFNClient, model: ModelRow, signal: AbortSignal): Promise<ModelRow> {
    const key = `${model.id}:${model.upstream_fitted_train_set_id}`;
    const running = refitting.get(key);
    if (running) return running;
    const current = await deps.models.findById(model.id);
    if (current?.upstream_fitted_train_set_id && current.upstream_fitted_train_set_id !== model.upstream_fitted_train_set_id)
      return current;
    let pending = refitting.get(key);
    if (!pending) {
      pending = refit(client, model, signal);
      refitting.set(key, pending);
      const forget = () => refitting.delete(key);
      pending.then(() => setTimeout(forget, REFIT_REMEMBERED_MS).unref(), forget);
    }
    return pending;
  };
}
