// The browser bundle of scripts/browser-check.sh: the real @supabase/ssr
// browser client, bundled by esbuild into one module a page can import.
export { createBrowserClient } from "@supabase/ssr";
