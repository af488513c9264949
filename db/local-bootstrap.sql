-- Local bootstrap for a PLAIN Postgres (tests, local development without the
-- Supabase CLI). Never run it on a Supabase database: there the auth schema,
-- the roles and these functions already exist and belong to Supabase.
--
-- It creates what Supabase provides and our migrations rely on:
--   roles anon, authenticated, service_role (NOLOGIN), and authenticator
--   (LOGIN NOINHERIT, a member of the three, as on Supabase: it has no
--   privileges of its own until the request's role is set);
--   auth.uid(), auth.role(), auth.email(), auth.jwt(), which read the
--   request.jwt.claim(s) settings exactly as Supabase's do.
-- Written from Supabase's documented behaviour. Safe to run twice.

do $$
begin
    if to_regclass('auth.users') is not null then
        raise exception 'auth.users exists: this looks like a Supabase database, whose auth schema and roles must not be touched. Run only `migrate` there.';
    end if;
end
$$;

do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

-- The user id: the `sub` claim.
create or replace function auth.uid() returns uuid
    language sql stable
    as $$
        select coalesce(
            nullif(current_setting('request.jwt.claim.sub', true), ''),
            (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
    $$;

-- The Postgres role of the request: the `role` claim.
create or replace function auth.role() returns text
    language sql stable
    as $$
        select coalesce(
            nullif(current_setting('request.jwt.claim.role', true), ''),
            (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
        )::text
    $$;

-- The user's email: the `email` claim.
create or replace function auth.email() returns text
    language sql stable
    as $$
        select coalesce(
            nullif(current_setting('request.jwt.claim.email', true), ''),
            (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
        )::text
    $$;

-- Every claim of the request, as jsonb.
create or replace function auth.jwt() returns jsonb
    language sql stable
    as $$
        select coalesce(
            nullif(current_setting('request.jwt.claim', true), ''),
            nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
    $$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
    to anon, authenticated, service_role;
