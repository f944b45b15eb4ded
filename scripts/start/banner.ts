export interface StackInfo {
  supervisorPid: number;
  apiUrl: string;
  ready: boolean;
  dashboard: boolean;
  emulatorUrl: string;
  upstreamUrl: string;
  token: string;
  workerPid?: number;
  databaseUrl: string;
  dotEnv?: string;
}

/** A URL for people: the wildcard address as localhost, no password. */
export function displayUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = 'localhost';
  if (u.password) u.password = '***';
  return u.toString().replace(/\/$/, '');
}

/** The one human summary `pnpm start` prints once everything answers. */
export function banner(s: StackInfo): string {
  const api = displayUrl(s.apiUrl);
  const emulatorIsUpstream = displayUrl(s.upstreamUrl) === displayUrl(s.emulatorUrl);
  const rows: [string, string][] = [
    ['api', `${api}${s.ready ? '' : '   (not ready yet: see GET /ready)'}`],
    ['docs', `${api}/docs`],
    ['dashboard', s.dashboard ? `${api}/admin/queues   (user admin)` : 'off   (set ADMIN_PASSWORD_HASH, from pnpm hash-password)'],
    ['emulator', `${displayUrl(s.emulatorUrl)}   accepts the token ${s.token}`],
    ['upstream', emulatorIsUpstream ? 'the emulator' : `${displayUrl(s.upstreamUrl)}   (TABPFN_API_URL; the emulator idles)`],
    ['worker', s.workerPid ? `pid ${s.workerPid}` : 'starting'],
    ['database', displayUrl(s.databaseUrl)],
    ['.env', s.dotEnv ? `${s.dotEnv}   (generated secrets only)` : 'not read (TABPFN_JOBS_DOTENV=off)'],
  ];
  const line = '─'.repeat(72);
  return [
    line,
    ` tabpfn-jobs is running   (stop everything: Ctrl-C or kill ${s.supervisorPid})`,
    ...rows.map(([k, v]) => `   ${k.padEnd(10)} ${v}`),
    ` next:  pnpm cli -- setup --token ${s.token} --url ${api}`,
    line,
    '',
  ].join('\n');
}
