-- The demo resource: todos, owned by auth.uid(), visible when public.
-- Runs as-is on a Supabase database (auth schema, roles and functions exist)
-- and on a plain Postgres after db/local-bootstrap.sql.

create table if not exists public.todos (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid(),
    title text not null check (char_length(title) between 1 and 200),
    done boolean not null default false,
    is_public boolean not null default false,
    created_at timestamptz not null default now()
);

create index if not exists todos_user_id_idx on public.todos (user_id);

alter table public.todos enable row level security;

-- `(select auth.uid())`, not `auth.uid()`: the planner then evaluates it once
-- per statement (an initPlan) instead of once per row, each time parsing the
-- claims JSON. Supabase's RLS performance guide recommends the same; the
-- policies mean exactly what `user_id = auth.uid()` means.

drop policy if exists todos_select on public.todos;
create policy todos_select on public.todos for select
    using (is_public or user_id = (select auth.uid()));

drop policy if exists todos_insert on public.todos;
create policy todos_insert on public.todos for insert to authenticated
    with check (user_id = (select auth.uid()));

drop policy if exists todos_update on public.todos;
create policy todos_update on public.todos for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));

drop policy if exists todos_delete on public.todos;
create policy todos_delete on public.todos for delete to authenticated
    using (user_id = (select auth.uid()));

-- Supabase's default privileges grant everything on new public tables to
-- anon and authenticated; these grants are the whole of what they may do.
revoke all on public.todos from public, anon, authenticated;
grant select on public.todos to anon, authenticated;
grant insert, update, delete on public.todos to authenticated;
-- As on Supabase, where service_role (which bypasses RLS) may do anything.
grant all on public.todos to service_role;
