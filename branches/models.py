from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class BranchLevel(models.TextChoices):
    HEAD_OFFICE = "head_office", _("总行")
    BRANCH = "branch", _("分行")
    SUB_BRANCH = "sub_branch", _("支行/网点")


class Branch(models.Model):
    """A node of the bank's branch tree.

    `path` is a materialised path ("/1/4/9/") so "this branch and everything below it"
    is one indexed prefix match instead of a recursive walk.
    """

    code = models.CharField(_("机构号"), max_length=20, unique=True)
    name = models.CharField(_("机构名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=20, choices=BranchLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级机构"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, editable=False, db_index=True)

    class Meta:
        verbose_name = _("机构")
        verbose_name_plural = _("机构")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        # The path needs the primary key, so a new branch is saved twice.
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        parent_path = self.parent.path if self.parent_id else "/"  # type: ignore[union-attr]
        path = f"{parent_path}{self.pk}/"
        if path != self.path:
            self.path = path
            Branch.objects.filter(pk=self.pk).update(path=path)

    @property
    def supervising_branch(self) -> Branch | None:
        """The next level up that receives escalations (分行 for a 支行, 总行 for a 分行)."""
        return self.parent
