// A real OpenID Connect provider for Roster's tests (npm `oidc-provider`), run on loopback.
//
//   node end2end/idp/oidc.mjs            prints `listening <port>` once it serves
//
// Environment: OIDC_PORT (0 = any free port), OIDC_CLIENT_ID / OIDC_CLIENT_SECRET (default
// roster / roster-secret), OIDC_REDIRECT_PREFIX: the client may redirect to any URI under it
// (Roster's redirect URI holds the connection id, made after this provider starts).
//
// Its login page is the tiny form an IdP shows: a user name (any address of the fixture's
// organization), then the provider grants the scopes asked for and sends the browser back.
// Claims: sub = the user name, email (verified), given_name, family_name, and any further claims
// given as JSON in the form's `claims` field (department, groups, …) — in userinfo, as
// oidc-provider keeps the ID token minimal when an access token is issued (Roster then asks
// userinfo). A `tamper` field (not on the page; tests post it) spoils that sign-in's ID token.
import http from 'node:http';
import { Provider } from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';

const port = Number(process.env.OIDC_PORT || 0);
const clientId = process.env.OIDC_CLIENT_ID || 'roster';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'roster-secret';
const redirectPrefix = process.env.OIDC_REDIRECT_PREFIX || 'http://';

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// Further claims per account, as typed at its last login.
const extraClaims = new Map();
// How the token answer of an account's next sign-in is tampered with, as typed at its login
// (the form's `tamper` field): `signature` (one character of the signature changed), `audience`,
// `issuer` or `expired` (the ID token re-signed with the provider's own key, so that only that
// claim is wrong). For the relying party's negative tests.
const tamper = new Map();
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`${redirectPrefix}placeholder`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    pkce: { required: () => true },
    jwks: { keys: [signingJwk] },
    features: { devInteractions: { enabled: false } },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['given_name', 'family_name', 'name', 'department', 'groups', 'employee_id'],
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['roster-test-idp-cookie-key'] },
    async findAccount(ctx, id) {
      const local = id.split('@')[0] || id;
      const given = local.charAt(0).toUpperCase() + local.slice(1);
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: id, email_verified: true, given_name: given, family_name: 'Test', name: `${given} Test`,
            ...(extraClaims.get(id) || {}) };
        },
      };
    },
  });
  // Roster's redirect URI carries the connection id: any URI under the prefix is this client's.
  provider.Client.prototype.redirectUriAllowed = function allowed(uri) {
    return typeof uri === 'string' && uri.startsWith(redirectPrefix);
  };
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || !ctx.body || !ctx.body.id_token) return;
    const claims = decodeJwt(ctx.body.id_token);
    const mode = tamper.get(claims.sub);
    if (!mode) return;
    tamper.delete(claims.sub);
    if (mode === 'signature') {
      const [h, p, sig] = ctx.body.id_token.split('.');
      ctx.body = { ...ctx.body, id_token: `${h}.${p}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}` };
      return;
    }
    const changed = { ...claims };
    if (mode === 'audience') changed.aud = 'another-client';
    if (mode === 'issuer') changed.iss = 'https://another-issuer.example';
    if (mode === 'expired') { changed.iat -= 7200; changed.exp = Math.floor(Date.now() / 1000) - 3600; }
    const header = decodeProtectedHeader(ctx.body.id_token);
    const token = await new SignJWT(changed).setProtectedHeader({ alg: header.alg, kid: header.kid }).sign(privateKey);
    ctx.body = { ...ctx.body, id_token: token };
  });
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    // Browsers ask every site for an icon: no 404 in the browser's console.
    if (req.url === '/favicon.ico') { res.statusCode = 204; res.end(); return; }
    const m = req.url.match(/^\/interaction\/([\w-]+)$/);
    if (!m) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><html><head><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1><p>Signing in to ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(details.uid)}">
<label>User name <input name="username" autofocus></label>
<label>Claims (JSON) <textarea name="claims">{}</textarea></label>
<button type="submit">Sign in</button></form></body></html>`);
        return;
      }
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const username = form.get('username') || '';
      if (form.get('tamper')) tamper.set(username, form.get('tamper'));
      try {
        extraClaims.set(username, JSON.parse(form.get('claims') || '{}'));
      } catch {
        res.statusCode = 400;
        res.end('claims: not JSON');
        return;
      }
      if (!username) {
        res.statusCode = 400;
        res.end('username required');
        return;
      }
      const grant = new provider.Grant({ accountId: username, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope || 'openid'));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: username }, consent: { grantId } }, { mergeWithLastSubmission: false });
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  console.log(`listening ${server.address().port}`);
});
