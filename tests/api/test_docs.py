"""The API documentation pages work offline: every asset they load is served by the API."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.api.support import running_api

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_only_same_origin_assets_that_answer(tmp_path: Path, page: str) -> None:
    with running_api(tmp_path, None) as api:
        html = api.client.get(page)
        assert html.status_code == 200
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
        urls += re.findall(r"""url\s*:\s*['"]([^'"]+)['"]""", html.text)
        assert any(url.endswith(".js") for url in urls), urls
        for url in urls:
            assert url.startswith("/"), url
            assert not url.startswith("//"), url
            assert api.client.get(url).status_code == 200, url
        assert "http://" not in html.text
        assert "https://" not in html.text
