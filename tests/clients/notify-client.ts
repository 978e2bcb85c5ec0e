// Drives the REAL @mana/notify-client (packages/notify-client/src/client.ts of
// the extracted monorepo tarball, imported at run time) against mana-notify
// with the service key, calling every method the client has, and prints one
// JSON line per call (see lib.ts).
//
//   MANA_ORIGINAL_DIR=<extracted tarball> NOTIFY_URL=http://127.0.0.1:3092 SERVICE_KEY=... \
//   MAILPIT_URL=http://127.0.0.1:8026 bun --no-install tests/clients/notify-client.ts
//
// src/client.ts is imported rather than src/index.ts: the index re-exports the
// interface NotifyClientOptions as a value, which only a bundler (tsup, as the
// package is built) erases; Bun running the source refuses it.
//
// "ok" is what the caller of a method gets: the client returns
// `response.notification` for send/schedule/get/cancel, `response.templates`,
// `response.template` and `response.preview`; a webhook is sent as
// {recipient: url, data: body} without a `body` field; errors are read from
// `{error: {message}}`. Deliveries are checked where the harness can see them
// (Mailpit for e-mail, its own HTTP receiver for webhooks).

import { join } from 'node:path';
import { Mailbox, Reporter, env, errText, poll, rawFetch, short, uniqueTag } from './lib';

const ORIG = env('MANA_ORIGINAL_DIR');
const NOTIFY_URL = env('NOTIFY_URL');
const SERVICE_KEY = env('SERVICE_KEY');
const MAILPIT_URL = env('MAILPIT_URL');
const WAIT = 15_000;

const R = new Reporter('notify-client');
const mail = new Mailbox(MAILPIT_URL);
const { NotifyClient }: any = await import(join(ORIG, 'packages/notify-client/src/client.ts'));

const tag = uniqueTag();
const appId = `it-clients-${tag}`;
const otherApp = `it-clients-other-${tag}`;
// Every HTTP exchange of the current call, for the detail of a failed one.
const http: string[] = [];
globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
	const res = await rawFetch(input, init);
	const u = new URL(input instanceof Request ? input.url : String(input));
	if (u.origin === new URL(NOTIFY_URL).origin) {
		const text = await res.clone().text().catch(() => '');
		http.push(`${init?.method || 'GET'} ${u.pathname}${u.search} → ${res.status} ${short(text, 200)}`);
	}
	return res;
}) as typeof fetch;

/** R.call that adds the call's HTTP exchanges to the detail when it fails. */
function call(name: string, fn: () => Promise<[boolean, string]>): Promise<boolean> {
	http.length = 0;
	return R.call(name, async () => {
		try {
			const [ok, detail] = await fn();
			return [ok, ok ? detail : `${detail}; http: ${http.join('; ')}`];
		} catch (e) {
			return [false, `threw ${errText(e)}; http: ${http.join('; ')}`];
		}
	});
}

const client = new NotifyClient({ serviceUrl: NOTIFY_URL, serviceKey: SERVICE_KEY, appId, timeout: 15_000 });
const rcpt = (n: string) => `it-notify-${n}-${tag}@manatest.local`;

// A webhook receiver on loopback.
interface Hook {
	path: string;
	method: string;
	headers: Record<string, string>;
	body: string;
}
const hooks: Hook[] = [];
const server = Bun.serve({
	hostname: '127.0.0.1',
	port: 0,
	async fetch(req) {
		const u = new URL(req.url);
		const headers: Record<string, string> = {};
		req.headers.forEach((v, k) => (headers[k] = v));
		hooks.push({ path: u.pathname, method: req.method, headers, body: await req.text() });
		return new Response('{"ok":true}', { headers: { 'Content-Type': 'application/json' } });
	},
});
const hookBase = `http://127.0.0.1:${server.port}`;

function notificationShape(n: any, status?: string): boolean {
	return !!n && typeof n.id === 'string' && n.id.length > 0 && typeof n.status === 'string' && (!status || n.status === status);
}

// Templates of this run, created with the service key (the client cannot
// create templates); one for this app, one for another app.
const slugA = `it-clients-a-${tag}`;
const slugB = `it-clients-b-${tag}`;
async function createTemplate(slug: string, app: string): Promise<string> {
	const r = await rawFetch(`${NOTIFY_URL}/api/v1/templates`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', 'X-Service-Key': SERVICE_KEY },
		body: JSON.stringify({
			slug,
			appId: app,
			channel: 'email',
			subject: 'Harness {{.name}}',
			bodyTemplate: '<p>Hallo {{.name}}, dein Code ist {{.code}}.</p>',
			locale: 'de-DE',
			variables: { name: 'Name of the recipient', code: 'A code' },
		}),
	});
	const text = await r.text();
	return r.ok ? '' : `create template ${slug}: ${r.status} ${short(text, 120)}`;
}
const templateErr = (await createTemplate(slugA, appId)) || (await createTemplate(slugB, otherApp));

// sendEmail ------------------------------------------------------------------------
let emailId = '';
await call('sendEmail', async () => {
	const to = rcpt('plain');
	const subject = `Client harness ${tag}`;
	const n = await client.sendEmail({ to, subject, body: `<p>Body ${tag}</p>`, externalId: `plain-${tag}` });
	if (!notificationShape(n)) return [false, `returned ${short(n)}`];
	emailId = n.id;
	const m = await mail.waitForText(to, subject, WAIT);
	return [true, `returned ${short(n)}; delivered: "${m.subject}"`];
});

await call('sendEmail.replyTo', async () => {
	const to = rcpt('replyto');
	const subject = `Client harness reply-to ${tag}`;
	const n = await client.sendEmail({ to, subject, body: `<p>Reply ${tag}</p>`, replyTo: 'support@manatest.local' });
	if (!notificationShape(n)) return [false, `returned ${short(n)}`];
	const m = await mail.waitForText(to, subject, WAIT);
	const raw = await (await rawFetch(`${MAILPIT_URL}/api/v1/message/${m.id}`)).json();
	const replyTo = short(raw?.ReplyTo ?? [], 100);
	return [replyTo.includes('support@manatest.local'), `returned ${short(n)}; delivered with Reply-To ${replyTo}`];
});

if (!templateErr) {
	await call('sendEmail.template', async () => {
		const to = rcpt('template');
		const n = await client.sendEmail({ to, template: slugA, data: { name: 'Ada', code: `C-${tag}` } });
		if (!notificationShape(n)) return [false, `returned ${short(n)}`];
		const m = await mail.waitForText(to, `C-${tag}`, WAIT);
		return [m.subject === 'Harness Ada', `returned ${short(n)}; delivered "${m.subject}" with the rendered body`];
	});
} else R.skip('sendEmail.template', templateErr);

// sendPush (to an Expo token; delivery is not checked here) ---------------------------------
await call('sendPush', async () => {
	const n = await client.sendPush({
		token: `ExponentPushToken[it-clients-${tag}]`,
		title: 'Harness',
		body: `Push ${tag}`,
		data: { tag },
		sound: 'default',
		badge: 1,
	});
	return [notificationShape(n), `returned ${short(n)}`];
});

// sendWebhook: {recipient: url, data: body, webhookOptions}, no `body` -----------------------
await call('sendWebhook', async () => {
	const path = `/hook/${tag}`;
	const n = await client.sendWebhook({
		url: hookBase + path,
		method: 'POST',
		headers: { 'X-Harness': tag },
		body: { event: 'client-harness', tag },
	});
	if (!notificationShape(n)) return [false, `returned ${short(n)}`];
	const hook = await poll('webhook delivery', WAIT, async () => hooks.find((h) => h.path === path));
	const delivered = hook.body.includes(tag);
	return [delivered, `returned ${short(n)}; receiver got ${hook.method} ${short(hook.body, 120)} (X-Harness header ${hook.headers['x-harness'] === tag ? 'kept' : 'dropped'})`];
});

// scheduleEmail / schedulePush (an hour ahead; cancelled below) -------------------------------
const later = new Date(Date.now() + 3600_000);
let scheduledEmailId = '';
let scheduledPushId = '';
await call('scheduleEmail', async () => {
	const n = await client.scheduleEmail({ to: rcpt('scheduled'), subject: 'Later', body: '<p>later</p>', scheduledFor: later });
	if (notificationShape(n)) scheduledEmailId = n.id;
	return [notificationShape(n, 'pending'), `returned ${short(n)}`];
});
await call('schedulePush', async () => {
	const n = await client.schedulePush({ token: `ExponentPushToken[it-clients-later-${tag}]`, title: 'Later', body: 'later', scheduledFor: later.toISOString() });
	if (notificationShape(n)) scheduledPushId = n.id;
	return [notificationShape(n, 'pending'), `returned ${short(n)}`];
});

// sendBatch -------------------------------------------------------------------------------------
await call('sendBatch', async () => {
	const out = await client.sendBatch([
		{ type: 'email', to: rcpt('batch'), subject: `Batch ${tag}`, body: '<p>batch</p>' },
		{ type: 'push', token: `ExponentPushToken[it-clients-batch-${tag}]`, title: 'Batch', body: 'batch' },
		{ type: 'webhook', url: `${hookBase}/batch/${tag}`, body: { event: 'batch', tag } },
	]);
	const ok =
		Array.isArray(out?.results) &&
		out.results.length === 3 &&
		out.results.every((r: any) => notificationShape(r)) &&
		out.succeeded === 3 &&
		out.failed === 0;
	return [ok, `returned ${short(out, 300)}`];
});

// getNotification -----------------------------------------------------------------------------
if (emailId) {
	await call('getNotification', async () => {
		const n = await client.getNotification(emailId);
		return [notificationShape(n) && n.id === emailId && n.channel === 'email', `returned ${short(n, 200)}`];
	});
} else R.skip('getNotification', 'needs sendEmail');

// An error as the client reports it: it reads {error: {message}}.
await call('getNotification.notFound', async () => {
	try {
		const n = await client.getNotification('00000000-0000-4000-8000-000000000000');
		return [false, `no error; returned ${short(n)}`];
	} catch (e) {
		const msg = errText(e);
		return [/NotifyClient error: /.test(msg) && !/HTTP \d+/.test(msg), `threw ${msg}`];
	}
});

// cancelNotification ---------------------------------------------------------------------------
if (scheduledEmailId) {
	await call('cancelNotification', async () => {
		const n = await client.cancelNotification(scheduledEmailId);
		return [notificationShape(n, 'cancelled') && n.id === scheduledEmailId, `returned ${short(n)}`];
	});
} else R.skip('cancelNotification', 'needs scheduleEmail');
if (scheduledPushId) await client.cancelNotification(scheduledPushId).catch(() => undefined);

// Templates -------------------------------------------------------------------------------------
if (!templateErr) {
	await call('listTemplates', async () => {
		const list = await client.listTemplates();
		const slugs = Array.isArray(list) ? list.map((t: any) => t?.slug) : [];
		return [slugs.includes(slugA) && slugs.includes(slugB), `returned ${Array.isArray(list) ? `array(${list.length})` : short(list)}`];
	});
	await call('listTemplates.appId', async () => {
		const list = await client.listTemplates(appId);
		const slugs = Array.isArray(list) ? list.map((t: any) => t?.slug) : [];
		const ok = slugs.includes(slugA) && !slugs.includes(slugB);
		return [ok, `?appId=${appId}: ${Array.isArray(list) ? `array(${list.length})` : short(list)}; own template ${slugs.includes(slugA) ? 'listed' : 'missing'}; other app's template ${slugs.includes(slugB) ? 'listed (not filtered)' : 'not listed'}`];
	});
	await call('getTemplate', async () => {
		const t = await client.getTemplate(slugA, 'de-DE');
		const v = t?.variables;
		const varsOK = v === undefined || v === null || typeof v === 'object';
		const ok = t?.slug === slugA && typeof t?.bodyTemplate === 'string' && t?.locale === 'de-DE' && varsOK;
		const vs = typeof v === 'string' ? `a string (base64 of ${short(Buffer.from(v, 'base64').toString('utf8'), 80)}?)` : short(v, 80);
		return [ok, `slug ${t?.slug === slugA ? 'ok' : t?.slug}, locale ${t?.locale}, variables ${vs} (Template.variables is Record<string,string>)`];
	});
	await call('previewTemplate', async () => {
		const p = await client.previewTemplate(slugA, { name: 'Ada', code: 'X-42' }, 'de-DE');
		const ok = p?.subject === 'Harness Ada' && typeof p?.body === 'string' && p.body.includes('X-42');
		return [ok, `returned ${short(p, 200)}`];
	});
} else {
	for (const c of ['listTemplates', 'listTemplates.appId', 'getTemplate', 'previewTemplate']) R.skip(c, templateErr);
}

server.stop(true);
process.exit(0);
