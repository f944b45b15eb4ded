/** Small JSON helpers for setting up what the scenarios measure (accounts, a fitted model, jobs). */

// biome-ignore lint/suspicious/noExplicitAny: loosely typed JSON answers of the api, read by field name
type Json = any;

export interface Account {
  apiKey: string;
  userId: string;
}

async function call(url: string, init: RequestInit & { json?: unknown; key?: string } = {}): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function setupAccount(apiUrl: string, token: string): Promise<Account> {
  const res = await call(`${apiUrl}/v1/auth/setup`, { method: 'POST', json: { tabpfn_token: token } });
  if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { apiKey: res.body.api_key, userId: res.body.user_id };
}

/** A small classification set, enough for the emulator's kNN. */
export function smallTrainSet(rows = 60, cols = 4): { features: number[][]; target: string[] } {
  const features = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => ((i * 7 + j * 13) % 17) / 3));
  const target = Array.from({ length: rows }, (_, i) => ['a', 'b', 'c'][i % 3]!);
  return { features, target };
}

export const SMALL_PREDICT = {
  features: [
    [1.5, 2.5, 0.5, 3.0],
    [0.3, 4.1, 2.2, 1.0],
  ],
};

/** Fits a small model and waits (Prefer: wait) until it is ready; needs a worker running. */
export async function fitSmallModel(apiUrl: string, key: string): Promise<string> {
  const res = await call(`${apiUrl}/v1/models/fit`, { method: 'POST', json: smallTrainSet(), key, headers: { prefer: 'wait=60' } });
  if (res.body?.status !== 'succeeded') throw new Error(`fit did not succeed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.model_id;
}

export async function submitPredict(apiUrl: string, key: string, modelId: string, wait = false): Promise<{ status: number; body: Json }> {
  return call(`${apiUrl}/v1/models/${modelId}/predict`, {
    method: 'POST',
    json: SMALL_PREDICT,
    key,
    headers: wait ? { prefer: 'wait=60' } : {},
  });
}

export async function getJob(apiUrl: string, key: string, jobId: string): Promise<Json> {
  return (await call(`${apiUrl}/v1/jobs/${jobId}`, { key })).body;
}
