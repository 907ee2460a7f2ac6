// A SAML 2.0 identity provider for Roster's tests (npm `samlify`), run on loopback.
//
//   node end2end/idp/saml.mjs            prints `listening <port>` once it serves
//
// It plays what Okta or Entra ID do: `GET /metadata` is its IdP metadata (entity ID, the
// HTTP-Redirect SSO URL, its signing certificate, made with openssl at start); `GET /sso` takes
// an AuthnRequest, reads the SP's metadata from the request's issuer (Roster's entity ID is its
// metadata URL), and shows a tiny login form; `POST /sso` signs a Response for the user name
// typed (as NameID and an `email` attribute, with any further attributes given as JSON in the
// form's `attributes` field — {"name": "value" or ["v1", "v2"]}, as an admin maps claims in
// Okta or Entra ID; samlify signs the assertion with RSA-SHA256, as the SP's metadata asks) and
// posts it to the SP's ACS with an auto-submitting form (a button without JavaScript).
// Environment: SAML_PORT (0 = any free port).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as samlify from 'samlify';

samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-saml-idp-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=Roster test IdP',
  '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
const key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
const cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
fs.rmSync(dir, { recursive: true, force: true });

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>${body}</body></html>`);
}

/** The SP named by the AuthnRequest's issuer (Roster's entity ID is its metadata URL). */
async function serviceProvider(samlRequest) {
  const xml = zlib.inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
  const issuer = (xml.match(/<(?:\w+:)?Issuer[^>]*>([^<]+)</) || [])[1];
  if (!issuer) throw new Error('the AuthnRequest has no Issuer');
  const res = await fetch(issuer);
  if (!res.ok) throw new Error(`SP metadata ${issuer}: HTTP ${res.status}`);
  return samlify.ServiceProvider({ metadata: await res.text() });
}

/** The Response template with its values and an AttributeStatement of `attributes`. */
function fill(template, sp, request, nameId, attributes) {
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
  const acs = sp.entityMeta.getAssertionConsumerService('post');
  const id = `_${crypto.randomUUID()}`;
  const attrs = Object.entries(attributes).map(([name, value]) => {
    const values = (Array.isArray(value) ? value : [value])
      .map((v) => `<saml:AttributeValue xsi:type="xs:string">${escape(v)}</saml:AttributeValue>`).join('');
    return `<saml:Attribute Name="${escape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">${values}</saml:Attribute>`;
  }).join('');
  const values = {
    ID: id,
    AssertionID: `_${crypto.randomUUID()}`,
    Destination: escape(acs),
    Audience: escape(sp.entityMeta.getEntityID()),
    SubjectRecipient: escape(acs),
    Issuer: escape(idpEntityId),
    IssueInstant: now.toISOString(),
    StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
    ConditionsNotBefore: now.toISOString(),
    ConditionsNotOnOrAfter: later,
    SubjectConfirmationDataNotOnOrAfter: later,
    NameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    NameID: escape(nameId),
    InResponseTo: escape(request.extract.request.id),
    AuthnStatement: '',
    AttributeStatement: attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : '',
  };
  return { id, context: template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m)) };
}

let idpEntityId = '';
const server = http.createServer();
server.listen(Number(process.env.SAML_PORT || 0), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  idpEntityId = `${base}/metadata`;
  const idp = samlify.IdentityProvider({
    entityID: `${base}/metadata`,
    signingCert: cert,
    privateKey: key,
    wantAuthnRequestsSigned: false,
    singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${base}/sso` }],
    nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
  });

  server.on('request', async (req, res) => {
    // Browsers ask every site for an icon: no 404 in the browser's console.
    if (req.url === '/favicon.ico') { res.statusCode = 204; res.end(); return; }
    const url = new URL(req.url, base);
    try {
      if (req.method === 'GET' && url.pathname === '/metadata') {
        res.setHeader('content-type', 'application/samlmetadata+xml');
        res.end(idp.getMetadata());
        return;
      }
      if (req.method === 'GET' && url.pathname === '/sso') {
        const samlRequest = url.searchParams.get('SAMLRequest') || '';
        const sp = await serviceProvider(samlRequest);
        await idp.parseLoginRequest(sp, 'redirect', { query: Object.fromEntries(url.searchParams) });
        page(res, 200, 'Test IdP sign-in', `<h1>Test SAML IdP</h1>
<form method="post" action="/sso">
<input type="hidden" name="SAMLRequest" value="${escape(samlRequest)}">
<input type="hidden" name="RelayState" value="${escape(url.searchParams.get('RelayState') || '')}">
<label>User name <input name="username" autofocus></label>
<label>Attributes (JSON) <textarea name="attributes">{}</textarea></label>
<button type="submit">Sign in</button></form>`);
        return;
      }
      if (req.method === 'POST' && url.pathname === '/sso') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const form = new URLSearchParams(body);
        const samlRequest = form.get('SAMLRequest') || '';
        const sp = await serviceProvider(samlRequest);
        const request = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: samlRequest } });
        const user = { email: form.get('username') || '' };
        const extra = JSON.parse(form.get('attributes') || '{}');
        const attributes = { email: user.email, ...extra };
        const { context, entityEndpoint } = await idp.createLoginResponse(sp, request, 'post', user,
          (template) => fill(template, sp, request, user.email, attributes));
        page(res, 200, 'Signing you in', `<form id="post" method="post" action="${escape(entityEndpoint)}">
<input type="hidden" name="SAMLResponse" value="${escape(context)}">
<input type="hidden" name="RelayState" value="${escape(form.get('RelayState') || '')}">
<noscript><button type="submit">Continue</button></noscript></form>
<script>document.getElementById('post').submit()</script>`);
        return;
      }
      page(res, 404, 'Not found', 'not found');
    } catch (e) {
      page(res, 400, 'Error', escape(String(e && e.stack || e)));
    }
  });
  console.log(`listening ${server.address().port}`);
});
