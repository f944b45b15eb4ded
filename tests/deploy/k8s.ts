import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/**
 * The Kubernetes objects in deploy/, checked against the API's schemas by kubernetes-models 4.5 (generated
 * from Kubernetes 1.27's OpenAPI document) and @kubernetes-models/keda 0.4 (generated from KEDA 2.10's
 * CRD), each through the model class's `validate()`. Both are the last releases that run on Node 20
 * (later ones need Node 22, above this repository's minimum).
 */
export const MODELS = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
} as const;

type Models = typeof MODELS;
export type KindKey = keyof Models;
export type ObjectOf<K extends KindKey> = InstanceType<Models[K]>;

export interface Manifest {
  /** Path relative to the repository root, and the document's index in its file. */
  where: string;
  key: string;
  raw: Record<string, unknown>;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(e.name) ? [path] : [];
  });
}

/** Every document of every YAML file under `dir` (recursively); empty documents (comments only) skipped. */
export function loadManifests(root: string, dir: string): Manifest[] {
  return yamlFiles(join(root, dir)).flatMap((file) => {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'));
    if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
    return docs.flatMap((doc, i) => {
      if (doc.errors.length) throw new Error(`${relative(root, file)}#${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const raw = doc.toJS() as Record<string, unknown> | null;
      if (raw === null) return [];
      return [{ where: `${relative(root, file)}#${i}`, key: `${raw.apiVersion}/${raw.kind}`, raw }];
    });
  });
}

/**
 * Fields the schema does not know (a typo such as `readinesProbe` passes `validate()`, which does not
 * forbid extra properties, while `kubectl apply` refuses it by default). The generated validators read
 * every property their schema defines, and every entry of a map: each object is wrapped in a Proxy that
 * records what the validator read, and whatever it never read is unknown to the schema.
 */
export function unknownFields(validate: (data: unknown) => void, raw: unknown): string[] {
  const read = new Map<object, Set<PropertyKey>>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const seen = read.get(value) ?? new Set<PropertyKey>();
    read.set(value, seen);
    return new Proxy(value, {
      get(target, key, receiver) {
        seen.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
    });
  };
  validate(wrap(raw));
  const unknown: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`);
      return;
    }
    const seen = read.get(value);
    for (const [k, v] of Object.entries(value)) {
      if (!seen?.has(k)) unknown.push(`${path}.${k}`);
      else walk(v, `${path}.${k}`);
    }
  };
  walk(raw, '');
  return unknown;
}

/** `m` as its model class (not validated yet: {@link validateManifest}). */
export function toModel(m: Manifest): InstanceType<Models[KindKey]> {
  const Model = MODELS[m.key as KindKey];
  if (!Model) throw new Error(`${m.where}: no schema for ${m.key} (add its model to MODELS)`);
  return new Model(m.raw as never);
}

/** Validates `m` against its schema; throws naming the document and what is wrong. */
export function validateManifest(m: Manifest): void {
  const model = toModel(m);
  try {
    model.validate();
  } catch (err) {
    throw new Error(`${m.where} (${m.key}): ${(err as Error).message}`);
  }
  const Model = MODELS[m.key as KindKey];
  const unknown = unknownFields((data) => Model.prototype.validate.call(data as never), m.raw);
  if (unknown.length) throw new Error(`${m.where} (${m.key}): fields the schema does not define: ${unknown.join(', ')}`);
}
