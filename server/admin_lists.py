"""What `evlog server users ls` and `evlog server projects ls` print: the server's users and
projects, read straight from the database (no running server needed)."""
from __future__ import annotations

from typing import Any, Dict, List

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from . import schema as s


def list_users(engine: Engine) -> List[Dict[str, Any]]:
    """Every user by name: `name`, `admin`, `anonymous`, `keys` (live API keys), `created_at`, `teams`."""
    keys = (select(s.api_keys.c.user_id, func.count().label("n"))
            .group_by(s.api_keys.c.user_id).subquery())
    q = (select(s.entities.c.id, s.entities.c.name, s.entities.c.created_at, s.users.c.is_admin,
                s.users.c.is_anonymous, func.coalesce(keys.c.n, 0))
         .join(s.users, s.users.c.entity_id == s.entities.c.id)
         .outerjoin(keys, keys.c.user_id == s.entities.c.id)
         .order_by(s.entities.c.name))
    team = s.entities.alias("team")
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        teams: Dict[int, List[str]] = {}
        for uid, name in conn.execute(select(s.team_members.c.user_id, team.c.name)
                                      .join(team, team.c.id == s.team_members.c.team_id).order_by(team.c.name)):
            teams.setdefault(uid, []).append(name)
    return [{"name": name, "admin": bool(admin), "anonymous": bool(anon), "keys": int(n), "created_at": created,
             "teams": teams.get(eid, [])} for eid, name, created, admin, anon, n in rows]


def list_projects(engine: Engine) -> List[Dict[str, Any]]:
    """Every project as `path` (entity/project), `visibility`, `runs` (count), `last_activity` (the
    newest run update, or the project's creation when it has no run), by path."""
    runs = (select(s.runs.c.project_id, func.count().label("n"), func.max(s.runs.c.updated_at).label("last"))
            .group_by(s.runs.c.project_id).subquery())
    q = (select(s.entities.c.name, s.projects.c.name, s.projects.c.visibility, s.projects.c.created_at,
                func.coalesce(runs.c.n, 0), runs.c.last)
         .join(s.entities, s.entities.c.id == s.projects.c.entity_id)
         .outerjoin(runs, runs.c.project_id == s.projects.c.id)
         .order_by(s.entities.c.name, s.projects.c.name))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [{"path": f"{entity}/{name}", "visibility": vis, "runs": int(n), "last_activity": last or created}
            for entity, name, vis, created, n, last in rows]
