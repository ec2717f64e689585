"""Walking a live link's requests as a browser would: read a page's form, fill it, post it."""

from __future__ import annotations

import io
import re
from typing import Any

from django.test import Client

from links.models import LiveLink
from onboarding.states import State
from tests.factories import user
from tests.html_forms import Form, browser_post_data, page_forms


def live_link(world: Any) -> LiveLink:
    case = world.case(State.LIVE)
    return LiveLink.objects.get(onboarding_case=case)


def as_user(u: Any) -> Client:
    client = Client()
    client.force_login(u)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def form_posting_to(html: str, action_part: str) -> Form:
    found = [f for f in page_forms(html) if action_part in (f.action or "")]
    assert len(found) == 1, f"{len(found)} forms post to {action_part!r}: {[f.action for f in page_forms(html)]}"
    return found[0]


def post_form(client: Client, page_url: str, form: Form, **values: Any) -> Any:
    """Post `form` of the page at `page_url` with `values` over what the browser would send."""
    data: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in browser_post_data(form).items()}
    data.update(values)
    return client.post(form.action or page_url, data, follow=True)


def fill_and_post(client: Client, page_url: str, action_part: str, **values: Any) -> Any:
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    return post_form(client, page_url, form_posting_to(text(page), action_part), **values)


def transition(client: Client, page_url: str, name: str, reason: str = "") -> Any:
    """Click a transition's button on the case page (its form: version, and a reason if asked)."""
    values = {"reason": reason} if reason else {}
    return fill_and_post(client, page_url, f"/transition/{name}/", **values)


def upload(client: Client, page_url: str, kind: str, data: bytes, name: str = "letter.pdf") -> Any:
    page = client.get(page_url)
    form = form_posting_to(text(page), f"/upload/{kind}/")
    values = {k: v[0] for k, v in browser_post_data(form).items()}
    values["file"] = io.BytesIO(data)
    values["file"].name = name  # type: ignore[attr-defined]
    return client.post(form.action, values, follow=True)


def review_accept(client: Client, page_url: str) -> Any:
    """Accept the one document waiting for review on the case page."""
    page = client.get(page_url)
    forms = [f for f in page_forms(text(page)) if re.search(r"/v/[0-9a-f-]+/review/", f.action or "")]
    assert len(forms) >= 1, "no review form"
    return post_form(client, page_url, forms[0], decision="accept")


def both_roles_user(username: str, *roles: str, branch: Any) -> Any:
    return user(username, *roles, branch=branch)


def forged_transition(client: Client, case: Any, name: str, reason: str = "") -> Any:
    """Post a transition whose button the page does not show (a forged or stale post)."""
    from onboarding.models import OnboardingCase

    version = OnboardingCase.objects.get(pk=case.pk).version
    return client.post(
        f"/cases/{case.public_id}/transition/{name}/", {"version": version, "reason": reason}, follow=True
    )


def change_form_on_file(request: Any, *, uploader: Any, reviewer: Any) -> Any:
    """The request's 变更申请书, signed and sealed, uploaded and accepted (the review stage's
    required document), through the documents' services."""
    from documents import services as documents
    from documents.models import DocumentKind
    from documents.samples import sample_pdf
    from onboarding.models import OnboardingCase

    case = OnboardingCase.objects.get(pk=request.case_id)
    version = documents.document_upload(
        case=case,
        user=uploader,
        kind=DocumentKind.LINK_CHANGE_FORM,
        upload=io.BytesIO(sample_pdf(f"{case.reference} 变更申请书(签字盖章)")),
        name="变更申请书.pdf",
    )
    return documents.document_review(version=version, user=reviewer, accept=True)
