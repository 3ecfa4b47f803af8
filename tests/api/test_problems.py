"""Every error reaches the caller as RFC 9457 problem details."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.http.problems import Problem, install_problem_handlers

if TYPE_CHECKING:
    from collections.abc import Iterator


class Body(BaseModel):
    grade: str


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/refuse")
    async def refuse() -> None:
        raise Problem(
            409, "transition_refused", "Action not allowed", "closed cases cannot be graded",
            allowed_actions=["reopen"],
        )

    @app.post("/validate")
    async def validate(body: Body) -> Body:
        return body

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


class TestProblemDetails:
    def test_a_raised_problem_keeps_its_status_code_and_extensions(
        self, client: TestClient
    ) -> None:
        response = client.post("/refuse")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "urn:wardship:problem:transition_refused",
            "title": "Action not allowed",
            "status": 409,
            "code": "transition_refused",
            "detail": "closed cases cannot be graded",
            "instance": "/refuse",
            "allowed_actions": ["reopen"],
        }

    def test_an_invalid_body_is_422_invalid_request_listing_errors_without_input(
        self, client: TestClient
    ) -> None:
        response = client.post("/validate", json={"grade": 7, "name": "a child's name"})
        problem = response.json()
        assert response.status_code == 422
        assert problem["code"] == "invalid_request"
        assert problem["errors"][0]["loc"] == ["body", "grade"]
        assert "a child's name" not in response.text

    def test_an_unknown_route_is_a_404_problem(self, client: TestClient) -> None:
        response = client.get("/nowhere")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_an_unexpected_error_is_a_500_problem_that_hides_the_cause(
        self, client: TestClient
    ) -> None:
        response = client.get("/boom")
        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"
        assert "secret detail" not in response.text
