// Drives the REAL @mana/shared-auth client (packages/shared-auth/src of the
// extracted monorepo tarball, imported at run time) against mana-auth, in the
// order a web app calls it, and prints one JSON line per call (see lib.ts).
//
//   MANA_ORIGINAL_DIR=<extracted tarball> AUTH_URL=http://localhost:3091 \
//   MAILPIT_URL=http://127.0.0.1:8026 bun --no-install tests/clients/shared-auth.ts
//
// Optional: APP_ORIGIN (http://localhost:5173), BROWSER_CORS=0 (no CORS checks).
// The client runs as in initializeWebAuth(): storage/device/network adapters,
// createAuthService, createTokenManager and setupFetchInterceptor on the auth
// origin, with globalThis.fetch being a browser tab of the web app (browser.ts).

import { join } from 'node:path';
import { Browser } from './browser';
import { Mailbox, Reporter, env, errText, isJWT, jwtPayload, rawFetch, short, uniqueTag, withPayload } from './lib';

const ORIG = env('MANA_ORIGINAL_DIR');
const AUTH_URL = env('AUTH_URL');
const MAILPIT_URL = env('MAILPIT_URL');
const APP_ORIGIN = env('APP_ORIGIN', 'http://localhost:5173');
const CORS = env('BROWSER_CORS', '1') !== '0';
const MAIL_WAIT = 15_000;

const R = new Reporter('shared-auth');
const mail = new Mailbox(MAILPIT_URL);
const browser = new Browser(AUTH_URL, APP_ORIGIN, CORS);

// The browser fetch first: the interceptor wraps whatever fetch it finds.
globalThis.fetch = browser.fetch;

const sa: any = await import(join(ORIG, 'packages/shared-auth/src/index.ts'));

/** In-memory storage (strings kept verbatim), one per "app". */
function memoryStorage() {
	const m = new Map<string, string>();
	return {
		async getItem<T = string>(k: string): Promise<T | null> {
			return (m.has(k) ? (m.get(k) as unknown as T) : null) as T | null;
		},
		async setItem(k: string, v: string): Promise<void> {
			m.set(k, v);
		},
		async removeItem(k: string): Promise<void> {
			m.delete(k);
		},
	};
}

const DEVICE_ID = crypto.randomUUID();
let storage = memoryStorage();
sa.setStorageAdapter(storage);
sa.setDeviceAdapter({
	async getDeviceInfo() {
		return { deviceId: DEVICE_ID, deviceName: 'Chrome Browser', deviceType: 'web', platform: 'web' };
	},
	async getStoredDeviceId() {
		return DEVICE_ID;
	},
});
sa.setNetworkAdapter({
	async isDeviceConnected() {
		return true;
	},
	async hasStableConnection() {
		return true;
	},
});
const authService: any = sa.createAuthService({ baseUrl: AUTH_URL });
const tokenManager: any = sa.createTokenManager(authService);
sa.setupFetchInterceptor(authService, tokenManager, { urls: [AUTH_URL] });
const keys = authService.getStorageKeys();

// ---------------------------------------------------------------------------
// The harness's own HTTP (not the client): setup and after-the-fact checks.

async function raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
	const res = await rawFetch(AUTH_URL + path, {
		method,
		headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let json: any;
	try {
		json = JSON.parse(text);
	} catch {
		/* not JSON */
	}
	return { status: res.status, json, text };
}

/** Whether mana-auth still refreshes with a refresh token: "<status> <code>". */
async function refreshStatus(refreshToken: string): Promise<string> {
	const r = await raw('POST', '/api/v1/auth/refresh', { refreshToken });
	if (r.status === 200) return `200 (${isJWT(r.json?.accessToken) ? 'new tokens issued' : short(r.text, 80)})`;
	return `${r.status} ${r.json?.code ?? r.json?.error ?? ''} ${r.json?.message ?? short(r.text, 80)}`.trim();
}

async function validateValid(token: string): Promise<boolean | string> {
	const r = await raw('POST', '/api/v1/auth/validate', { token });
	return r.status === 200 ? r.json?.valid === true : `status ${r.status}`;
}

async function tokens() {
	return {
		at: (await storage.getItem<string>(keys.APP_TOKEN)) ?? null,
		rt: (await storage.getItem<string>(keys.REFRESH_TOKEN)) ?? null,
	};
}

function rx(s: string): string {
	return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
const VERIFY_LINK = new RegExp(`${rx(AUTH_URL)}[^\\s"'<>]*verif[^\\s"'<>]*`, 'i');
const RESET_LINK = new RegExp(`${rx(AUTH_URL)}[^\\s"'<>]*reset[^\\s"'<>]*`, 'i');
const MAGIC_LINK = new RegExp(`https?://[^\\s"'<>]*magic[^\\s"'<>]*`, 'i');

// ---------------------------------------------------------------------------

const tag = uniqueTag();
const email = `it-clients-${tag}@manatest.local`;
const P1 = `Client-Harness-${tag.slice(-5)}-One!`;
const P2 = `Client-Harness-${tag.slice(-5)}-Two!`;
const P3 = `Client-Harness-${tag.slice(-5)}-Three!`;
let password = P1;
let userId = '';

// signUp ---------------------------------------------------------------------
const signedUp = await R.call('signUp', async () => {
	const m = browser.log.length;
	const res = await authService.signUp(email, P1, APP_ORIGIN);
	return [res.success === true && res.needsVerification === true, `result ${short(res)}; ${browser.since(m)}`];
});

// signIn before verifying: the app shows "verify your e-mail" on this code.
if (signedUp) {
	await R.call('signIn.unverified', async () => {
		const m = browser.log.length;
		const res = await authService.signIn(email, P1);
		await authService.clearAuthStorage();
		return [res.success === false && res.code === 'EMAIL_NOT_VERIFIED', `result ${short(res)}; ${browser.since(m)}`];
	});
} else R.skip('signIn.unverified', 'needs signUp');

// The verification mail's link, opened like a click in a mail client.
let verified = false;
if (signedUp) {
	verified = await R.call('verifyEmailLink', async () => {
		const { match: link } = await mail.waitFor(email, VERIFY_LINK, MAIL_WAIT);
		const m = browser.log.length;
		const res = await browser.navigate(link);
		const loc = res.headers.get('location');
		let err: string | null = null;
		if (loc) err = new URL(loc, link).searchParams.get('error');
		const ok = res.status >= 300 && res.status < 400 && !!loc && !err;
		return [ok, `link ${new URL(link).pathname}; ${res.status} → ${loc}; ${browser.since(m)}`];
	});
} else R.skip('verifyEmailLink', 'needs signUp');

// Wrong password: the app switches on code INVALID_CREDENTIALS.
if (verified) {
	await R.call('signIn.wrongPassword', async () => {
		const m = browser.log.length;
		const res = await authService.signIn(email, P1 + 'x');
		return [res.success === false && res.code === 'INVALID_CREDENTIALS', `result ${short(res)}; ${browser.since(m)}`];
	});
} else R.skip('signIn.wrongPassword', 'needs a verified account');

// signIn (and the SSO cookie sign-in it does on the side) ---------------------
async function signIn(call: string, pw: string): Promise<boolean> {
	let mark = browser.log.length;
	const ok = await R.call(call, async () => {
		mark = browser.log.length;
		const res = await authService.signIn(email, pw);
		const { at, rt } = await tokens();
		const p = jwtPayload(at);
		if (p?.sub) userId = p.sub;
		const good = res.success === true && isJWT(at) && typeof rt === 'string' && rt.length > 0;
		return [good, `result ${short(res)}; stored accessToken ${isJWT(at) ? 'JWT' : short(at, 40)}, refreshToken ${rt ? 'yes' : 'no'}; ${browser.since(mark)}`];
	});
	const ex = browser.find(mark, 'POST', '/api/auth/sign-in/email');
	const stored = ex?.setCookies.filter((c) => !c.startsWith('!') && !c.startsWith('-')) ?? [];
	R.report(
		`${call}.ssoCookie`,
		!!ex && ex.status === 200 && !ex.cors && stored.length > 0,
		ex
			? `POST /api/auth/sign-in/email → ${ex.status || 'refused'}${ex.cors ? ` [CORS: ${ex.cors}]` : ''}; cookies stored: ${stored.join(', ') || 'none'}${ex.setCookies.length ? ` (Set-Cookie: ${ex.setCookies.join(', ')})` : ''}; ${short(ex.body, 160)}`
			: 'signIn did not call /api/auth/sign-in/email (it stops early when /login fails)'
	);
	return ok;
}

let signedIn = false;
if (verified) signedIn = await signIn('signIn', P1);
else {
	R.skip('signIn', 'needs a verified account');
	R.skip('signIn.ssoCookie', 'needs a verified account');
}

if (signedIn) {
	await R.call('getUserFromToken', async () => {
		const u = await authService.getUserFromToken();
		const ok = !!u && typeof u.id === 'string' && u.id.length > 0 && u.email === email && (await authService.isAuthenticated());
		return [ok, `user ${short(u)}; claims ${short(Object.keys(jwtPayload((await tokens()).at) ?? {}))}`];
	});
} else R.skip('getUserFromToken', 'needs signIn');

// SSO: another app of the same browser (same cookies, empty storage) ----------
{
	const mine = storage;
	const other = memoryStorage();
	let mark = browser.log.length;
	let detail = '';
	let ok = false;
	let otherAT: string | null = null;
	if (signedIn) {
		storage = other;
		sa.setStorageAdapter(other);
		try {
			mark = browser.log.length;
			const res = await authService.trySSO();
			otherAT = await other.getItem<string>(keys.APP_TOKEN);
			ok = res.success === true && isJWT(otherAT) && jwtPayload(otherAT)?.sub === userId;
			detail = `result ${short(res)}; cookies in jar before: ${browser.cookieNames().join(', ') || 'none'}; ${browser.since(mark)}`;
		} catch (e) {
			detail = `threw: ${errText(e)}`;
		} finally {
			storage = mine;
			sa.setStorageAdapter(mine);
		}
		const gs = browser.find(mark, 'GET', '/api/auth/get-session');
		const j: any = gs?.json;
		R.report(
			'trySSO.getSession',
			!!gs && gs.status === 200 && !gs.cors && !!j?.session && j?.user?.email === email,
			gs ? `GET /api/auth/get-session (cookies sent: ${gs.sentCookies.join(', ') || 'none'}) → ${gs.status || 'refused'}${gs.cors ? ` [CORS: ${gs.cors}]` : ''} ${short(gs.body, 200)}` : 'not called'
		);
		const st = browser.find(mark, 'POST', '/api/v1/auth/session-to-token');
		const sj: any = st?.json;
		R.report(
			'trySSO.sessionToToken',
			!!st && st.status === 200 && !st.cors && isJWT(sj?.accessToken) && typeof sj?.refreshToken === 'string',
			st
				? `POST /api/v1/auth/session-to-token (cookies sent: ${st.sentCookies.join(', ') || 'none'}) → ${st.status || 'refused'}${st.cors ? ` [CORS: ${st.cors}]` : ''} ${short(st.body, 200)}`
				: 'not called (trySSO stops when get-session fails)'
		);
		R.report('trySSO', ok, detail);
	} else {
		R.skip('trySSO.getSession', 'needs signIn');
		R.skip('trySSO.sessionToToken', 'needs signIn');
		R.skip('trySSO', 'needs signIn');
	}
}

// Fetch interceptor: a request with an expired access token ------------------
if (signedIn) {
	await R.call('fetchInterceptor.refreshOn401', async () => {
		const good = await tokens();
		const now = Math.floor(Date.now() / 1000);
		// A genuinely expired token (signed, exp in the past) from the Go
		// test; without it, one with exp moved (its signature then fails).
		const expired = process.env.EXPIRED_ACCESS_TOKEN || withPayload(good.at!, { exp: now - 120, iat: now - 1020 });
		await storage.setItem(keys.APP_TOKEN, expired);
		const m = browser.log.length;
		let status = 0;
		let thrown = '';
		try {
			const res = await globalThis.fetch(`${AUTH_URL}/api/v1/me/data`);
			status = res.status;
		} catch (e) {
			thrown = errText(e);
		}
		const first = browser.log[m];
		const refresh = browser.find(m, 'POST', '/api/v1/auth/refresh');
		const now2 = await tokens();
		const refreshed = !!refresh && refresh.status === 200 && isJWT(now2.at) && now2.at !== expired;
		// Leave the app signed in for the next steps whatever happened.
		if (!refreshed) {
			const rj: any = refresh?.json;
			if (refresh?.status === 200 && isJWT(rj?.accessToken)) {
				await authService.updateTokens(rj.accessToken, rj.refreshToken ?? good.rt);
			} else {
				await authService.updateTokens(good.at, good.rt);
			}
		}
		tokenManager.reset();
		return [
			refreshed && status === 200,
			`first answer ${first ? `${first.status} ${short(first.body, 160)}` : 'none'}; ${refresh ? `refresh → ${refresh.status}` : 'no refresh attempted'}; final ${thrown || status}; ${browser.since(m)}`,
		];
	}, 30_000);
} else R.skip('fetchInterceptor.refreshOn401', 'needs signIn');

// refreshTokens ----------------------------------------------------------------
if (signedIn) {
	await R.call('refreshTokens', async () => {
		const before = await tokens();
		const out = await authService.refreshTokens(before.rt);
		const after = await tokens();
		const ok = isJWT(out?.appToken) && typeof out?.refreshToken === 'string' && after.at === out.appToken && out?.userData?.id === userId;
		return [ok, `appToken ${isJWT(out?.appToken) ? 'JWT' : short(out?.appToken, 40)}, refreshToken ${out?.refreshToken === before.rt ? 'unchanged' : 'rotated'}, userData ${short(out?.userData, 120)}`];
	});
} else R.skip('refreshTokens', 'needs signIn');

// A second device of the same user (the harness logs it in, not the client).
let other: { at: string; rt: string; sid: string } | null = null;
let otherWhy = '';
if (signedIn) {
	const r = await raw('POST', '/api/v1/auth/login', { email, password }, { 'User-Agent': 'ManaClientHarness-OtherDevice/1.0' });
	if (r.status === 200 && isJWT(r.json?.accessToken)) {
		other = { at: r.json.accessToken, rt: r.json.refreshToken, sid: jwtPayload(r.json.accessToken)?.sid ?? '' };
	} else otherWhy = `second-device login ${r.status} ${short(r.text, 100)}`;
} else otherWhy = 'needs signIn';

// listSessions (the settings page) ----------------------------------------------
let sessionList: any[] = [];
if (signedIn) {
	await R.call('listSessions', async () => {
		const m = browser.log.length;
		const list = await authService.listSessions();
		const ex = browser.find(m, 'GET', '/api/v1/auth/sessions');
		sessionList = Array.isArray(list) ? list : [];
		const shaped =
			sessionList.length >= 2 &&
			sessionList.every((s) => s && typeof s.id === 'string' && 'ipAddress' in s && 'userAgent' in s && ('lastActivityAt' in s || 'createdAt' in s));
		return [
			ex?.status === 200 && Array.isArray(list) && shaped,
			`returned ${Array.isArray(list) ? `array(${list.length})` : short(list)}${sessionList[0] ? ` keys ${Object.keys(sessionList[0]).join(',')}` : ''}; ${browser.since(m)}`,
		];
	});
} else R.skip('listSessions', 'needs signIn');

// revokeSession (of the other device) -------------------------------------------
if (other) {
	await R.call('revokeSession', async () => {
		const listed = sessionList.find((s) => s?.id === other!.sid || String(s?.userAgent ?? '').includes('OtherDevice'));
		const id = listed?.id ?? other!.sid;
		const m = browser.log.length;
		const res = await authService.revokeSession(id);
		const rs = await refreshStatus(other!.rt);
		const valid = await validateValid(other!.at);
		const ok = res.success === true && !rs.startsWith('200') && valid === false;
		return [ok, `id from ${listed ? 'listSessions' : 'the token sid (not in the list)'}; result ${short(res)}; other device afterwards: refresh ${rs}, validate valid=${valid}; ${browser.since(m)}`];
	});
} else R.skip('revokeSession', otherWhy);

// getSecurityEvents ---------------------------------------------------------------
if (signedIn) {
	await R.call('getSecurityEvents', async () => {
		const m = browser.log.length;
		const events = await authService.getSecurityEvents(20);
		const ex = browser.find(m, 'GET', '/api/v1/auth/security-events');
		const arr = Array.isArray(events) ? events : [];
		const shaped = arr.length > 0 && arr.length <= 20 && arr.every((e) => e && e.id !== undefined && (e.eventType || e.event_type));
		return [
			ex?.status === 200 && Array.isArray(events) && shaped,
			`returned ${Array.isArray(events) ? `array(${arr.length})` : `${typeof events} ${short(events, 120)}`}${arr[0] ? ` keys ${Object.keys(arr[0]).join(',')}` : ''}; ${browser.since(m)}`,
		];
	});
} else R.skip('getSecurityEvents', 'needs signIn');

// changePassword --------------------------------------------------------------------
if (signedIn) {
	await R.call('changePassword', async () => {
		const m = browser.log.length;
		const res = await authService.changePassword(P1, P2);
		const login = await raw('POST', '/api/v1/auth/login', { email, password: P2 });
		if (login.status === 200) password = P2;
		return [res.success === true && login.status === 200, `result ${short(res)}; login with the new password → ${login.status}; ${browser.since(m)}`];
	});
} else R.skip('changePassword', 'needs signIn');

// forgotPassword → resetPassword ------------------------------------------------------
let resetLink = '';
if (verified) {
	await R.call('forgotPassword', async () => {
		const m = browser.log.length;
		const res = await authService.forgotPassword(email, `${APP_ORIGIN}/reset-password`);
		if (res.success !== true) return [false, `result ${short(res)}; ${browser.since(m)}`];
		const { match } = await mail.waitFor(email, RESET_LINK, MAIL_WAIT);
		resetLink = match;
		return [true, `result ${short(res)}; mail link ${new URL(match).pathname.replace(/[^/]{16,}/, '<token>')}`];
	});
} else R.skip('forgotPassword', 'needs a verified account');

let resetDone = false;
if (resetLink) {
	resetDone = await R.call('resetPassword', async () => {
		// The link opens the app's reset page with ?token=; the app posts it.
		const nav = await browser.navigate(resetLink);
		const loc = nav.headers.get('location');
		let token = loc ? new URL(loc, resetLink).searchParams.get('token') : null;
		let from = "the redirect's token parameter";
		if (!token) {
			const u = new URL(resetLink);
			token = u.searchParams.get('token') || u.pathname.split('/').pop() || '';
			from = 'the link itself';
		}
		const m = browser.log.length;
		const res = await authService.resetPassword(token, P3);
		const login = await raw('POST', '/api/v1/auth/login', { email, password: P3 });
		if (login.status === 200) password = P3;
		return [res.success === true && login.status === 200, `link → ${nav.status} ${loc ?? ''}; token from ${from}; result ${short(res)}; login with the new password → ${login.status}; ${browser.since(m)}`];
	});
} else R.skip('resetPassword', 'needs the reset mail (forgotPassword)');

// A reset ends every session: the app signs in again.
let signedInAgain = false;
if (resetDone) signedInAgain = await signIn('signIn.afterReset', P3);
else {
	R.skip('signIn.afterReset', 'needs resetPassword');
	R.skip('signIn.afterReset.ssoCookie', 'needs resetPassword');
}
const live = resetDone ? signedInAgain : signedIn;

// resendVerificationEmail (a second, unverified account) ---------------------------
{
	const email2 = `it-clients-resend-${tag}@manatest.local`;
	const reg = await raw('POST', '/api/v1/auth/register', { email: email2, password: P1, name: 'Client Harness' });
	if (reg.status === 200) {
		await R.call('resendVerificationEmail', async () => {
			await mail.waitFor(email2, VERIFY_LINK, MAIL_WAIT);
			const m = browser.log.length;
			const res = await authService.resendVerificationEmail(email2, APP_ORIGIN);
			if (res.success !== true) return [false, `result ${short(res)}; ${browser.since(m)}`];
			const { match } = await mail.waitFor(email2, VERIFY_LINK, MAIL_WAIT);
			return [true, `result ${short(res)}; second verification mail arrived (${new URL(match).pathname})`];
		});
	} else R.skip('resendVerificationEmail', `registering the second account: ${reg.status} ${short(reg.text, 100)}`);
}

// Passkeys -------------------------------------------------------------------------------
await R.call('getPasskeyCapability', async () => {
	const m = browser.log.length;
	const cap = await authService.getPasskeyCapability();
	const ex = browser.find(m, 'GET', '/api/v1/auth/passkeys/capability');
	return [cap?.server === true && ex?.status === 200, `capability ${short(cap)}; ${browser.since(m)}`];
});

if (live) {
	await R.call('listPasskeys', async () => {
		const m = browser.log.length;
		const list = await authService.listPasskeys();
		const ex = browser.find(m, 'GET', '/api/v1/auth/passkeys');
		return [ex?.status === 200 && Array.isArray(ex?.json) && Array.isArray(list), `returned ${short(list)}; ${browser.since(m)}`];
	});
	await R.call('registerPasskey.options', async () => {
		// Bun has no WebAuthn: the client stops after the options step, which
		// is what is checked (a challenge from the server).
		const m = browser.log.length;
		const res = await authService.registerPasskey('Client harness key');
		const ex = browser.find(m, 'POST', '/api/v1/auth/passkeys/register/options');
		const j: any = ex?.json;
		return [ex?.status === 200 && typeof j?.challenge === 'string' && !!j?.rp && !!j?.user, `result ${short(res)}; ${browser.since(m)}`];
	});
} else {
	R.skip('listPasskeys', 'needs a signed-in app');
	R.skip('registerPasskey.options', 'needs a signed-in app');
}

await R.call('signInWithPasskey.options', async () => {
	const m = browser.log.length;
	const before = await tokens();
	const res = await authService.signInWithPasskey();
	const after = await tokens();
	if (before.at && after.at !== before.at) await authService.updateTokens(before.at, before.rt);
	const ex = browser.find(m, 'POST', '/api/v1/auth/passkeys/authenticate/options');
	const j: any = ex?.json;
	return [ex?.status === 200 && typeof j?.challenge === 'string', `result ${short(res)}; ${browser.since(m)}`];
});

// Magic link ---------------------------------------------------------------------------------
if (verified) {
	await R.call('sendMagicLink', async () => {
		const m = browser.log.length;
		const res = await authService.sendMagicLink(email);
		if (res.success !== true) return [false, `result ${short(res)}; ${browser.since(m)}`];
		const { match } = await mail.waitFor(email, MAGIC_LINK, MAIL_WAIT);
		return [true, `result ${short(res)}; mail link ${new URL(match).pathname}`];
	});
} else R.skip('sendMagicLink', 'needs a verified account');

// Two-factor (cookie session) -------------------------------------------------------------
if (live) {
	await R.call('enableTwoFactor', async () => {
		const m = browser.log.length;
		const res = await authService.enableTwoFactor(password);
		const ok = res.success === true && String(res.totpURI ?? '').startsWith('otpauth://') && Array.isArray(res.backupCodes) && res.backupCodes.length > 0;
		return [ok, `result ${short({ ...res, backupCodes: res.backupCodes ? `[${res.backupCodes.length}]` : undefined })}; ${browser.since(m)}`];
	});
} else R.skip('enableTwoFactor', 'needs a signed-in app');

// signOut: sends only {refreshToken}; that refresh token must be dead afterwards -----
if (live) {
	await R.call('signOut', async () => {
		const before = await tokens();
		const m = browser.log.length;
		await authService.signOut();
		const after = await tokens();
		const cleared = after.at === null && after.rt === null;
		const rs = await refreshStatus(before.rt!);
		const valid = await validateValid(before.at!);
		const ok = cleared && /^4\d\d/.test(rs) && valid === false;
		return [ok, `storage cleared=${cleared}; afterwards refresh ${rs}; access token validate valid=${valid}; ${browser.since(m)}`];
	});
} else R.skip('signOut', 'needs a signed-in app');

process.exit(0);
