// The real @supabase/ssr server client, driven by tests/api/cookies_node.rs.
//
//   node ssr.mjs write <supabase url> <key> <email> <metadata bytes>
//     signs up through GoTrue (the test double) with an in-memory cookie
//     store and prints {"cookies": [{name, value}], "session": {...}}: the
//     exact cookies @supabase/ssr writes.
//   node ssr.mjs read <supabase url> <key> <cookies as JSON [{name, value}]>
//     reads the session back from those cookies and prints it.
//
// Node 20: supabase-js builds its realtime client eagerly and wants a
// WebSocket, so it gets a transport that is never connected.
import { createServerClient } from "@supabase/ssr";

class NeverConnects {
  constructor() {
    throw new Error("realtime is not used by these tests");
  }
}

function client(url, key, jar) {
  return createServerClient(url, key, {
    cookies: {
      getAll: () => [...jar.entries()].map(([name, value]) => ({ name, value })),
      setAll: (cookies) => {
        for (const { name, value, options } of cookies) {
          if (options?.maxAge === 0 || value === "") jar.delete(name);
          else jar.set(name, value);
        }
      },
    },
    realtime: { transport: NeverConnects },
  });
}

function fail(message) {
  process.stderr.write(`ssr.mjs: ${message}\n`);
  process.exit(1);
}

const [command, url, key, arg, size] = process.argv.slice(2);
const jar = new Map();

if (command === "write") {
  const supabase = client(url, key, jar);
  const bio = "m".repeat(Number(size) || 0);
  const { data, error } = await supabase.auth.signUp({
    email: arg,
    password: "test-double-password",
    options: { data: { bio } },
  });
  if (error) fail(`signUp: ${error.message}`);
  // @supabase/ssr writes its cookies from the auth-state listener.
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (jar.size === 0) fail("no cookies were written");
  const cookies = [...jar.entries()].map(([name, value]) => ({ name, value }));
  const { access_token, refresh_token } = data.session;
  console.log(JSON.stringify({ cookies, session: { access_token, refresh_token } }));
} else if (command === "read") {
  for (const { name, value } of JSON.parse(arg)) jar.set(name, value);
  const supabase = client(url, key, jar);
  const { data, error } = await supabase.auth.getSession();
  if (error) fail(`getSession: ${error.message}`);
  if (!data.session) fail("no session in these cookies");
  const { access_token, refresh_token, expires_at, user } = data.session;
  console.log(JSON.stringify({ access_token, refresh_token, expires_at, user_id: user?.id, email: user?.email }));
} else {
  fail("usage: ssr.mjs write|read …");
}
