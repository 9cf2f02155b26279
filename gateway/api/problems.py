"""RFC 9457 problem details for every error the API returns, validation errors included."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from contract import ContractError, Reason
from gateway.core.errors import GatewayError

PROBLEM_JSON = "application/problem+json"
CONTRACT_PROBLEM = "urn:loopmeter:problem:contract"
VALIDATION_PROBLEM = "urn:loopmeter:problem:validation"


class FieldProblem(BaseModel):
    path: str = Field(description="Where in the request, like `query.start` or "
                                  "`samples[0].values.power_kw`.")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field("about:blank", description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    reason: str | None = Field(None, description="Contract rejection reason, for ingest.")
    errors: list[FieldProblem] | None = None


def problem_response(request: Request, status: int, detail: str | None = None, *,
                     problem_type: str = "about:blank", reason: str | None = None,
                     errors: list[FieldProblem] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    problem = Problem(type=problem_type, title=HTTPStatus(status).phrase, status=status,
                      detail=detail, instance=request.url.path, reason=reason, errors=errors)
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses."""
    return {status: {"model": Problem, "description": HTTPStatus(status).phrase,
                     "content": {PROBLEM_JSON: {}}} for status in statuses}


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(ContractError, _contract_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return problem_response(request, error.status_code, error.detail,
                            headers=dict(error.headers or {}))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [FieldProblem(path=".".join(str(part) for part in item["loc"]), message=item["msg"])
              for item in error.errors()]
    return problem_response(request, 422, "The request is not valid.",
                            problem_type=VALIDATION_PROBLEM, errors=errors)


async def _gateway_error(request: Request, error: GatewayError) -> JSONResponse:
    return problem_response(request, error.status, error.detail)


async def _contract_error(request: Request, error: ContractError) -> JSONResponse:
    status = 413 if error.reason is Reason.TOO_LARGE else 422
    errors = [FieldProblem(path=item.path, message=item.message) for item in error.errors]
    return problem_response(request, status, "The payload does not follow the v1 contract.",
                            problem_type=CONTRACT_PROBLEM, reason=error.reason.value,
                            errors=errors)


async def _unexpected(request: Request, _error: Exception) -> JSONResponse:
    # The traceback goes to the server log (Starlette logs it); the client learns nothing.
    return problem_response(request, 500, "An unexpected error occurred.")
