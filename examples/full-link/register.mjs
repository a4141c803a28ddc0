// How each instance of the full-link example (service.mjs, grpc-service.mjs) registers itself with
// graylane, from its environment: GRAYLANE_ADMIN, GRAYLANE_TOKEN, SERVICE, VERSION (stable | gray),
// NAME, and optionally TTL_MS and HEARTBEAT_MS.
import { register } from '@graylane/lanes';

/** Registers the instance listening at `url`; prints `ready <name> <id> <url>` once registered. */
export function registerInstance(url) {
  const env = process.env;
  const registration = register({
    admin: env.GRAYLANE_ADMIN,
    token: env.GRAYLANE_TOKEN,
    service: env.SERVICE,
    version: env.VERSION ?? 'stable', // the version is the lane this instance serves
    url,
    ...(env.TTL_MS ? { ttlMs: Number(env.TTL_MS) } : {}),
    ...(env.HEARTBEAT_MS ? { heartbeatMs: Number(env.HEARTBEAT_MS) } : {}),
    deregisterOnSignals: true, // SIGTERM / SIGINT: deregister, then exit
  });
  registration.ready.then((id) => console.log(`ready ${env.NAME} ${id} ${url}`));
}
