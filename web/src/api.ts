/**
 * The dashboard's side of the admin API (same origin): the live overview over server-sent events,
 * rollout commands with the admin token, and explain. Wire types come from the server's wire module.
 */
import type { Explanation, Overview, ReleaseView, RolloutView } from '../../src/admin/wire.js';

export type {
  AnalysisRun,
  Explanation,
  GatewayOverview,
  GatewaysOverview,
  HistoryPoint,
  Overview,
  ReleaseView,
  RolloutOverview,
  RolloutView,
  RouteOverview,
  ServiceOverview,
  StepCheck,
  TotalsByVersion,
  VersionOverview,
} from '../../src/admin/wire.js';

/** What a failed call says: the API's own error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'graylane.adminToken';

/** The admin token of this tab (sessionStorage: gone when the tab closes). */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/**
 * Follows /api/v1/stream: calls `onOverview` with every event and `onState` when the connection
 * opens or drops (EventSource reconnects by itself after the server's `retry`).
 */
export function follow(onOverview: (o: Overview) => void, onState: (live: boolean) => void): () => void {
  const source = new EventSource('api/v1/stream');
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  source.onmessage = (e: MessageEvent<string>) => onOverview(JSON.parse(e.data) as Overview);
  return () => source.close();
}

export type RolloutAction = 'promote' | 'abort' | 'pause' | 'resume' | 'retry';

/** Sends a rollout intent with the token; resolves to the rollout as written, or throws ApiError. */
export function rolloutCommand(name: string, action: RolloutAction, bearer: string): Promise<RolloutView> {
  return call<RolloutView>('POST', `api/v1/rollouts/${encodeURIComponent(name)}/${action}`, {}, bearer);
}

export type ReleaseAction = 'promote' | 'abort' | 'pause' | 'resume' | 'retry' | 'undo';

/** Every release (the live stream carries rollouts only: releases are read with this, read access). */
export async function releases(): Promise<ReleaseView[]> {
  return (await call<{ releases: ReleaseView[] }>('GET', 'api/v1/releases')).releases;
}

/** Sends a release intent with the token; resolves to the release as written, or throws ApiError. */
export function releaseCommand(name: string, action: ReleaseAction, bearer: string): Promise<ReleaseView> {
  return call<ReleaseView>('POST', `api/v1/releases/${encodeURIComponent(name)}/${action}`, {}, bearer);
}

/** A dry run of routing for a URL and headers. */
export function explain(url: string, headers: Record<string, string>): Promise<Explanation> {
  return call<Explanation>('POST', 'api/v1/explain', { url, headers });
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, bearer?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'unreachable', `cannot reach the admin API: ${(err as Error).message}`);
  }
  const text = await res.text();
  let data: unknown = {};
  try {
    data = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'bad_answer', `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = data as { error?: string; message?: string };
    throw new ApiError(res.status, e.error ?? 'error', e.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}
