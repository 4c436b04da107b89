"""``unishare serve``: run the service with uvicorn on the settings from the environment."""

from __future__ import annotations

import logging
import sys
from types import FrameType

from sqlalchemy.engine import make_url

from api.app import create_app
from api.settings import SettingsError, load_settings


def serve(host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    import uvicorn

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every start ("Context impl …"); the store logs what a migration changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        settings.all_api_keys()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None
    except OSError as exc:
        sys.stderr.write(f"cannot read UNISHARE_API_KEY_FILE: {exc}\n")
        raise SystemExit(2) from None
    app = create_app(settings)
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    keys = len(settings.all_api_keys())
    if settings.redis_url:
        redis = make_url(settings.redis_url).render_as_string(hide_password=True)
        solving = f"RQ workers via {redis}"
    else:
        solving = f"{settings.max_concurrent_solves} worker processes"
    sys.stderr.write(
        f"UniShare listening on http://{host}:{port} "
        f"(database {database}; {solving}; "
        f"{'API keys required' if keys else 'no API keys: open access'})\n"
    )
    sys.stderr.flush()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        access_log=log_level == "debug",
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Event streams end on their own, so shutdown need not wait out the grace period.
            app.state.shutting_down.set()
            super().handle_exit(sig, frame)

    Server(config).run()
