"""/api/v1/: thin views over the same selectors and services as the pages.

Every case is fetched with `case_get_for_user` (404 outside the client's company or branch
subtree), every change goes through the service that makes it for a person, and every call
is an access event.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AccessEvent
from audit.services import access_event, access_reads_save
from documents import selectors as document_selectors
from documents import services as document_services
from documents.models import Document
from links import selectors as link_selectors
from links.models import LinkEvent, LiveLink
from onboarding import selectors, services, test_gateway
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.services import CaseConflict, CaseError, TestOutcome
from portal import services as portal_services
from portal.actions import actions_for
from portal.models import CaseMessage

from . import serializers as s
from .auth import HasTestGatewayScope
from .models import IdempotencyRecord
from .pagination import KeysetPagination

IDEMPOTENCY_HEADER = "Idempotency-Key"


class IdempotencyMismatch(APIException):
    status_code = 422
    default_detail = "Idempotency-Key was used with another request body."
    default_code = "idempotency_mismatch"


class IdempotencyInProgress(APIException):
    status_code = 409
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_in_progress"


IN_PROGRESS = 0


class _Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class ApiView(APIView):
    """Access event for every call; Idempotency-Key on POST; CaseError → 400, CaseConflict → 409."""

    pagination_class = KeysetPagination
    case: OnboardingCase | None = None
    listed_cases: list[int] = []  # the ids of the cases a list call showed (CaseListView)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self._idempotency: tuple[str, str] | None = None
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if request.method != "POST" or not key:
            return
        if len(key) > 200:
            raise IdempotencyMismatch("Idempotency-Key is longer than 200 characters.")
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request._request.body
        ).hexdigest()
        client = request.api_client  # type: ignore[attr-defined]
        try:
            # Inserting the row is the claim: of two requests with one key, one runs.
            with transaction.atomic():
                IdempotencyRecord.objects.create(client=client, key=key, request_hash=digest, status_code=IN_PROGRESS)
        except IntegrityError:
            stored = IdempotencyRecord.objects.get(client=client, key=key)
            if stored.request_hash != digest:
                raise IdempotencyMismatch() from None
            if stored.status_code == IN_PROGRESS:
                raise IdempotencyInProgress() from None
            raise _Replay(
                Response(stored.body, status=stored.status_code, headers={"Idempotent-Replayed": "true"})
            ) from None
        self._idempotency = (key, digest)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response
        if isinstance(exc, CaseConflict):
            current = exc.current
            return Response(
                {"detail": exc.message, "current_version": current.version if current else None},
                status=status.HTTP_409_CONFLICT,
            )
        if isinstance(exc, test_gateway.CredentialsUnknown):
            return Response(
                {"detail": exc.message, "code": "unknown_credentials", "problems": exc.problems},
                status=status.HTTP_404_NOT_FOUND,
            )
        if isinstance(exc, test_gateway.NotInJointTesting):
            return Response(
                {"detail": exc.message, "code": "not_in_joint_testing", "problems": exc.problems},
                status=status.HTTP_409_CONFLICT,
            )
        if isinstance(exc, CaseError):
            return Response({"detail": exc.message, "problems": exc.problems}, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        client = getattr(request, "api_client", None)
        idem = getattr(self, "_idempotency", None)
        if client is not None and idem is not None:
            claim = IdempotencyRecord.objects.filter(client=client, key=idem[0], status_code=IN_PROGRESS)
            if response.status_code < 500:
                claim.update(status_code=response.status_code, body=getattr(response, "data", None))
            else:
                claim.delete()  # the server failed: a retry with this key runs again
        if client is not None:
            match = request._request.resolver_match
            data = {
                "client": str(client.public_id),
                "method": request.method,
                "status": response.status_code,
                "view": match.view_name if match is not None else "",
            }
            call = access_event(
                kind=AccessEvent.Kind.API_CALL, actor=client.user, case=self.case, request=request._request, data=data
            )
            # A list read is a read of every case it showed: one row each, in the same INSERT,
            # so the auditor's export for a case finds it.
            listed = self.listed_cases if response.status_code == 200 else []
            # Each read as `access_event` makes it, its actor, name, address and path the call's
            # (worked out once rather than once per case), saved after the call.
            read = AccessEvent(
                kind=AccessEvent.Kind.CASE_READ,
                actor=client.user,
                username=call.username,
                reason="",
                ip=call.ip,
                path=call.path,
                data={"view": data["view"], "client": data["client"]},
            )
            access_reads_save(call, read, listed)
        return response

    def get_case(self) -> OnboardingCase:
        self.case = selectors.case_get_for_user(user=self.request.user, public_id=self.kwargs["case_id"])
        return self.case


# --- cases -----------------------------------------------------------------------------------


class CaseListView(ApiView, generics.ListAPIView[OnboardingCase]):
    serializer_class = s.CaseSerializer

    def get_queryset(self) -> Any:
        # The page is found among the keys alone, then its cases read by id (issue 26: the
        # joined list took PostgreSQL 28–80 ms to plan under load for 1 ms of running it).
        return selectors.case_list_keys(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The page's keys, then what it shows of each case as values (`case_rows`), written as
        # `CaseSerializer` writes a case (`case_list_rows`): no model instance per case.
        keys = self.paginate_queryset(self.get_queryset())
        self.listed_cases = [key.pk for key in keys]
        return self.get_paginated_response(s.case_list_rows(selectors.case_rows(self.listed_cases)))

    @extend_schema(request=s.CaseCreateSerializer, responses={201: s.CaseSerializer, 400: s.ErrorSerializer})
    def post(self, request: Request) -> Response:
        """A draft case for the client's own company (enterprise clients)."""
        data = s.CaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user
        if not portal_services.is_customer(user):
            raise PermissionDenied("Only a company's API client opens a draft; bank systems use the pages.")
        enterprise = user.enterprise  # type: ignore[union-attr]
        # The company data stays as registered: an API draft does not edit the company (the
        # portal form does), so this is the portal request without its company form.
        case = services.case_create(
            user=user,
            enterprise=enterprise,
            modules=data.validated_data["modules"],
            account_manager=portal_services.account_manager_pick(enterprise=enterprise),
            fields={
                "erp_system": data.validated_data["erp_system"],
                "connection_notes": data.validated_data["connection_notes"],
                "target_date": data.validated_data["target_date"],
            },
        )
        self.case = selectors.case_get_for_user(user=user, public_id=case.public_id)
        return Response(s.CaseSerializer(self.case).data, status=status.HTTP_201_CREATED)


class CaseDetailView(ApiView):
    @extend_schema(responses=s.CaseSerializer)
    def get(self, request: Request, case_id: Any) -> Response:
        return Response(s.CaseSerializer(self.get_case()).data)


class _TransitionView(ApiView):
    transition = ""

    @extend_schema(
        request=s.TransitionSerializer,
        responses={200: s.CaseSerializer, 400: s.ErrorSerializer, 409: s.ErrorSerializer},
    )
    def post(self, request: Request, case_id: Any) -> Response:
        case = self.get_case()
        data = s.TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.case_transition(
            case=case,
            user=request.user,  # type: ignore[arg-type]
            name=self.transition,
            reason=data.validated_data["reason"],
            expected_version=data.validated_data["expected_version"],
        )
        return Response(s.CaseSerializer(self.get_case()).data)


class CaseSubmitView(_TransitionView):
    transition = "submit"


class CaseWithdrawView(_TransitionView):
    transition = "withdraw"


class VisitListView(ApiView, generics.ListAPIView[StageVisit]):
    serializer_class = s.StageVisitSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return StageVisit.objects.none()
        return self.get_case().visits.order_by("entered_at", "pk")


class EventListView(ApiView, generics.ListAPIView[CaseEvent]):
    serializer_class = s.CaseEventSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CaseEvent.objects.none()
        return selectors.case_timeline(case=self.get_case())


# --- documents -------------------------------------------------------------------------------


class DocumentListView(ApiView, generics.ListAPIView[Document]):
    serializer_class = s.DocumentSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        return self.get_case().documents.prefetch_related("versions").order_by("created_at", "pk")

    @extend_schema(
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={201: s.DocumentVersionSerializer, 400: s.ErrorSerializer},
    )
    def post(self, request: Request, case_id: Any) -> Response:
        case = self.get_case()
        data = s.DocumentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        version = document_services.document_upload(
            case=case,
            user=request.user,  # type: ignore[arg-type]
            kind=data.validated_data["kind"],
            upload=upload,
            name=upload.name,
            size=upload.size,
        )
        return Response(s.DocumentVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class DocumentDownloadView(ApiView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, version_id: Any) -> Any:
        from django.http import FileResponse

        from documents.downloads import content_disposition

        version = document_selectors.version_get_for_user(user=request.user, public_id=version_id)
        self.case = version.document.case
        handle = document_services.document_storage().open(version.storage_name, "rb")
        document_services.document_download_record(version=version, user=request.user)  # type: ignore[arg-type]
        response = FileResponse(handle, content_type=version.content_type)
        response["Content-Disposition"] = content_disposition(version.original_name)
        response["Content-Length"] = str(version.size)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


# --- joint tests, messages, actions ---------------------------------------------------------


class TestResultsView(ApiView):
    @extend_schema(
        request=s.TestResultsSerializer,
        responses={
            201: inline_serializer("TestResultsRecorded", {"recorded": serializers.IntegerField()}),
            400: s.ErrorSerializer,
            409: s.ErrorSerializer,
        },
    )
    def post(self, request: Request, case_id: Any) -> Response:
        case = self.get_case()
        data = s.TestResultsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = services.test_results_record(
            case=case,
            user=request.user,  # type: ignore[arg-type]
            outcomes=[TestOutcome(**o) for o in data.validated_data["outcomes"]],
            expected_version=data.validated_data["expected_version"],
        )
        return Response({"recorded": len(rows)}, status=status.HTTP_201_CREATED)


class TestGatewayObservationsView(ApiView):
    """The bank's test gateway posts the joint-test transactions it saw (scope `test_gateway`).

    The test credentials name the case; the gateway's trace id makes a repeat harmless.
    """

    permission_classes = [HasTestGatewayScope]

    @extend_schema(
        request=s.GatewayObservationsSerializer,
        responses={
            201: s.GatewayReportSerializer,
            200: s.GatewayReportSerializer,
            400: s.ErrorSerializer,
            404: s.ErrorSerializer,
            409: s.ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = s.GatewayObservationsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = test_gateway.test_observations_record(
            user=request.user,  # type: ignore[arg-type]
            test_account=data.validated_data["test_account"],
            certificate_ref=data.validated_data["certificate_ref"],
            observations=[test_gateway.Observation(**o) for o in data.validated_data["observations"]],
        )
        self.case = report.case
        body = {
            "case": report.case.public_id,
            "reference": report.case.reference,
            "recorded": [r.trace_id for r in report.recorded],
            "duplicates": report.duplicates,
            "unmatched": report.unmatched,
        }
        return Response(
            s.GatewayReportSerializer(body).data,
            status=status.HTTP_201_CREATED if report.recorded else status.HTTP_200_OK,
        )


class MessageListView(ApiView, generics.ListAPIView[CaseMessage]):
    serializer_class = s.MessageSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CaseMessage.objects.none()
        return self.get_case().messages.select_related("author").order_by("created_at", "pk")

    @extend_schema(request=s.MessagePostSerializer, responses={201: s.MessageSerializer, 400: s.ErrorSerializer})
    def post(self, request: Request, case_id: Any) -> Response:
        case = self.get_case()
        data = s.MessagePostSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = portal_services.message_post(
            case=case,
            user=request.user,  # type: ignore[arg-type]
            body=data.validated_data["body"],
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ActionListView(ApiView):
    @extend_schema(responses=s.ActionSerializer(many=True))
    def get(self, request: Request, case_id: Any) -> Response:
        items = actions_for(case=self.get_case(), user=request.user)
        return Response(s.ActionSerializer(items, many=True).data)


# --- live links (issue 22): read-only, scoped like cases ------------------------------------------------


class LinkListView(ApiView, generics.ListAPIView[LiveLink]):
    serializer_class = s.LiveLinkSerializer

    def get_queryset(self) -> Any:
        return link_selectors.link_list(user=self.request.user)


class LinkDetailView(ApiView):
    @extend_schema(responses=s.LiveLinkDetailSerializer)
    def get(self, request: Request, link_id: Any) -> Response:
        link = link_selectors.link_get_for_user(user=request.user, public_id=link_id)
        return Response(s.LiveLinkDetailSerializer(link).data)


class LinkEventListView(ApiView, generics.ListAPIView[LinkEvent]):
    serializer_class = s.LinkEventSerializer

    def get_queryset(self) -> Any:
        link = link_selectors.link_get_for_user(user=self.request.user, public_id=self.kwargs["link_id"])
        return link_selectors.link_history(link).select_related("request__case")
