"""All runtime settings in one class; environment variables use the CCMAP_ prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """ccmap settings (env: CCMAP_DATABASE_URL, CCMAP_BASEMAP, ...)."""

    model_config = SettingsConfigDict(env_prefix="CCMAP_", extra="ignore")

    database_url: str = f"sqlite:///{ROOT / 'var' / 'ccmap.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    # osm | tianditu | amap | none | a custom tile URL template with {z}/{x}/{y}
    basemap: str = "osm"
    tianditu_key: str = ""
    basemap_attribution: str = ""
    max_upload_mb: float = 50.0
    max_photo_mb: float = 10.0
    layer_limit: int = 20000
    static_dir: Path = ROOT / "static"
    title: str = "创城点位地图"
    # zones: the part outside the jurisdiction is clipped or the save refused; overlap with a
    # zone of the same type gives a warning or refuses the save
    zone_outside: Literal["clip", "refuse"] = "clip"
    zone_overlap: Literal["warn", "refuse"] = "warn"
    # accounts
    session_hours: float = 12.0
    access_token_hours: float = 12.0
    lockout_attempts: int = 5
    lockout_window_minutes: float = 15.0
    lockout_minutes: float = 15.0
    # Secure flag on cookies: auto = when the request came over HTTPS (run behind TLS in
    # production; plain http is only for 127.0.0.1 and the demo)
    cookie_secure: str = "auto"
