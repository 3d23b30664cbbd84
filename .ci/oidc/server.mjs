// The real OIDC provider nuvola's identity tests run against: the npm
// package `oidc-provider` on loopback, with test users in groups, JWT access
// tokens for the `urn:nuvola` resource (audience `nuvola-test`), client
// credentials, the device flow, introspection and the development login and
// consent pages (which a test drives with plain HTTP requests).
//
// Besides the provider's own endpoints, `/test/*` helps the rejection tests
// (loopback only, test only):
//   POST /test/sign   {header, claims, key}  signs anything with a key:
//                     "rsa" and "ec" are in the JWKS, "stray" never is,
//                     "newest" is the last key added by /test/rotate.
//   POST /test/rotate adds a fresh RSA key to the published JWKS.
//   GET  /test/version the SHA-256 of this file (start.sh restarts a server
//                     running an older version).
//
// Usage: PORT=9123 node server.mjs

import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 9123);
const issuer = `http://127.0.0.1:${port}`;
const version = createHash('sha256').update(readFileSync(fileURLToPath(import.meta.url))).digest('hex');

// Who belongs where. Users log in through the device flow or the
// authorization code flow (the dashboard's client, `nuvola-web`; any password); the `*-svc` clients get tokens for
// the same people through client credentials, without a login.
const GROUPS = {
  alice: ['physics'],
  bob: ['physics'],
  carol: ['bio'],
  dave: ['physics', 'physics/managers'],
  root: ['admins'],
};
const SERVICE_CLIENTS = Object.keys(GROUPS).map((user) => ({
  client_id: `${user}-svc`,
  client_secret: 'secret',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: 'nuvola',
}));
// A client whose tokens are opaque (no resource): nuvola checks them through
// the introspection endpoint.
SERVICE_CLIENTS.push({ ...SERVICE_CLIENTS[0], client_id: 'alice-opaque' });

async function keyPair(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid, alg, use: 'sig' };
}

const keys = {
  rsa: await keyPair('RS256', `rsa-${randomUUID().slice(0, 8)}`),
  ec: await keyPair('ES256', `ec-${randomUUID().slice(0, 8)}`),
  stray: await keyPair('RS256', `stray-${randomUUID().slice(0, 8)}`),
};
const rotated = [];

const publicJwk = ({ d, p, q, dp, dq, qi, ...rest }) => rest;

const resources = {
  'urn:nuvola': { audience: 'nuvola-test', ttl: 600, alg: 'RS256' },
  'urn:nuvola:es': { audience: 'nuvola-test', ttl: 600, alg: 'ES256' },
  'urn:nuvola:short': { audience: 'nuvola-test', ttl: 1, alg: 'RS256' },
  'urn:other': { audience: 'other-service', ttl: 600, alg: 'RS256' },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'nuvola-cli',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'openid offline_access nuvola',
    },
    {
      // The dashboard: authorization code flow with PKCE. "native" lets the
      // loopback redirect URI carry any port (RFC 8252), as test servers do.
      client_id: 'nuvola-web',
      client_secret: 'web-secret',
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/login/callback'],
      scope: 'openid offline_access nuvola',
    },
    {
      client_id: 'nuvola-server',
      client_secret: 'server-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'nuvola',
    },
    ...SERVICE_CLIENTS,
  ],
  jwks: { keys: [keys.rsa, keys.ec] },
  scopes: ['openid', 'offline_access', 'nuvola'],
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  extraTokenClaims: async (_ctx, token) => {
    const who = token.accountId ?? token.clientId?.replace(/-(svc|opaque)$/, '');
    const groups = GROUPS[who] ?? [];
    return {
      groups,
      'wlcg.groups': groups.map((g) => `/${g}`),
      eduperson_entitlement: groups.map((g) => `urn:mace:nuvola.test:group:${g}#nuvola.test`),
    };
  },
  issueRefreshToken: async (_ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  ttl: { DeviceCode: 600, RefreshToken: 86400, AccessToken: 600, Grant: 86400, Session: 86400, Interaction: 600 },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, client, oneOf) =>
        oneOf ?? (client.clientId === 'alice-opaque' ? undefined : 'urn:nuvola'),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        const r = resources[indicator];
        if (!r) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'nuvola',
          audience: r.audience,
          accessTokenTTL: r.ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: r.alg } },
        };
      },
    },
  },
  pkce: { required: () => false },
});
provider.proxy = false;

async function readJson(ctx) {
  let body = '';
  for await (const chunk of ctx.req) body += chunk;
  return body ? JSON.parse(body) : {};
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/version') {
    ctx.body = { version };
    return;
  }
  if (ctx.path === '/test/sign' && ctx.method === 'POST') {
    const { header = {}, claims = {}, key = 'rsa' } = await readJson(ctx);
    const jwk = key === 'newest' ? rotated.at(-1) : keys[key];
    if (!jwk) {
      ctx.status = 400;
      ctx.body = { error: `no key ${key}` };
      return;
    }
    const protectedHeader = { alg: jwk.alg, kid: jwk.kid, typ: 'at+jwt', ...header };
    const signer = await jose.importJWK(jwk, jwk.alg);
    ctx.body = {
      token: await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader(protectedHeader)
        .sign(signer),
    };
    return;
  }
  if (ctx.path === '/test/rotate' && ctx.method === 'POST') {
    const jwk = await keyPair('RS256', `rotated-${randomUUID().slice(0, 8)}`);
    rotated.push(jwk);
    ctx.body = { kid: jwk.kid };
    return;
  }
  await next();
  // The published JWKS grows with the rotated keys.
  if (ctx.path === '/jwks' && ctx.status === 200 && rotated.length) {
    const body = typeof ctx.body === 'string' ? JSON.parse(ctx.body) : ctx.body;
    body.keys = [...body.keys, ...rotated.map(publicJwk)];
    ctx.body = body;
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${version.slice(0, 12)} listening at ${issuer}`);
});
