"""The lab database's asset records: cached, external and deposited assets, and the
links that attach them to owners (``Database`` has these methods)."""

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from ..core.errors import InvalidArgument
from .errors import NameTaken
from .info_rows import asset_info, asset_link_info
from .infos import AssetInfo, AssetLinkInfo
from .models import ASSET_KINDS, OWNER_KINDS, Asset, AssetLink, Session
from .rows import check_name, row_by_id, utc_now

DEPOSIT_ENDS = ("deposited", "failed")
"""The statuses a deposit ends with."""


class AssetRows:
    """The asset records' methods of :class:`~moalab.store.database.Database`."""

    def record_asset(self, key: str | None, kind: str, extension: str = "",
                     personal: bool = False, url: str | None = None,
                     sha256: str | None = None, size: int | None = None) -> AssetInfo:
        """Record a 'cached' asset (stored under ``key``) or an 'external' one (at
        ``url``, ``key`` None) as 'stored'; return its row. Idempotent: the row already
        recorded under that key (an external asset: that url) is returned as it is.
        Raises InvalidArgument for another kind (a session's assets: add_deposit)."""
        if kind not in ("cached", "external"):
            raise InvalidArgument(f"asset {key!r}: kind {kind!r} is not accepted by "
                                  f"record_asset; give 'cached' or 'external' (a "
                                  f"session's recordings: add_deposit)")
        if key is None and (kind != "external" or not url):
            raise InvalidArgument(f"a {kind} asset without a key is not accepted; give its "
                                  "storage key (an external asset: key None and its url)")
        values = {"key": key, "kind": kind, "extension": extension, "personal": personal,
                  "status": "stored", "url": url, "sha256": sha256, "size": size,
                  "delete_input": False, "created": utc_now()}
        same = Asset.key == key if key is not None else (
            (Asset.key.is_(None)) & (Asset.kind == "external") & (Asset.url == url))
        with self._unit(write=True) as session:
            row = session.scalar(select(Asset).where(same).order_by(Asset.id))
            if row is None:
                if key is None:
                    session.execute(insert(Asset).values(**values))
                else:  # another PC may record the same key at once: one row wins
                    session.execute(self._insert()(Asset).values(**values)
                                    .on_conflict_do_nothing(index_elements=["key"]))
                row = session.scalar(select(Asset).where(same).order_by(Asset.id))
            return asset_info(row)

    def add_deposit(self, session_id: str, local_key: str, key: str, extension: str,
                    personal: bool, input_path: str, delete_input: bool) -> AssetInfo:
        """Record a deposit of session ``session_id``: the file at ``input_path`` to be
        uploaded under ``key``, 'pending' until :meth:`end_deposit`, linked to the
        session as its ``local_key`` (one transaction). Written before the upload
        starts, so a deposit killed half-way is found again (:meth:`stale_deposits`).
        Raises NameTaken when the session has a deposit of that ``local_key`` already,
        UnknownName for an unknown session."""
        try:
            with self._unit(write=True) as session:
                self._session_row(session, session_id)
                row = Asset(key=key, kind="experiment", extension=extension,
                            personal=personal, status="pending", session_id=session_id,
                            local_key=local_key, input_path=str(input_path),
                            delete_input=delete_input, created=utc_now())
                session.add(row)
                session.flush()  # its id, for the link
                self._link(session, row.id, "session", session_id, local_key)
        except IntegrityError:
            raise NameTaken(f"session {session_id} already has a deposit {local_key!r}: give "
                            f"each of a session's recordings its own local_key (e.g. "
                            f"'{local_key}-2')") from None
        return asset_info(row)

    def end_deposit(self, asset_id: int, status: str, error: str | None = None,
                    sha256: str | None = None, size: int | None = None) -> bool:
        """End the pending deposit ``asset_id`` as 'deposited' (with the file's
        ``sha256`` and ``size``) or 'failed' (with ``error``). Returns False, changing
        nothing, when it is not pending (another process's retry ended it first).
        Raises InvalidArgument for another status."""
        if status not in DEPOSIT_ENDS:
            raise InvalidArgument(f"asset {asset_id}: end status {status!r} is not one of "
                                  f"{', '.join(DEPOSIT_ENDS)}")
        with self._unit(write=True) as session:
            return bool(session.execute(update(Asset).where(
                Asset.id == asset_id, Asset.status == "pending",
            ).values(status=status, error=error, sha256=sha256, size=size,
                     deposited=utc_now() if status == "deposited" else None)).rowcount)

    def list_assets(self, session: str | None = None, status: str | None = None,
                    kind: str | None = None) -> list[AssetInfo]:
        """The assets recorded, in the order recorded; only those of ``session``, with
        ``status`` and of ``kind`` when given."""
        if kind is not None and kind not in ASSET_KINDS:
            raise InvalidArgument(f"asset kind {kind!r} is not one of {', '.join(ASSET_KINDS)}")
        where = [column == value for column, value in (
            (Asset.session_id, session), (Asset.status, status), (Asset.kind, kind))
            if value is not None]
        with self._unit() as unit:
            return [asset_info(row) for row in
                    unit.scalars(select(Asset).where(*where).order_by(Asset.id))]

    def get_asset(self, asset_id: int) -> AssetInfo:
        """The asset ``asset_id``; raises UnknownName."""
        with self._unit() as session:
            return asset_info(row_by_id(session, Asset, "asset", asset_id))

    def stale_deposits(self, protocol: str) -> list[AssetInfo]:
        """The pending deposits of ``protocol``'s sessions that are not running (their
        process was killed: a running session whose owner is gone is marked interrupted
        first), oldest first: each is to be retried, or failed if its input is gone."""
        self._interrupt_dead()
        with self._unit() as session:
            return [asset_info(row) for row in session.scalars(
                select(Asset).join(Session, Asset.session_id == Session.id).where(
                    Asset.status == "pending", Session.status != "running",
                    Session.protocol == protocol).order_by(Asset.id))]

    def link_asset(self, asset_id: int, owner_kind: str, owner: str, name: str) -> None:
        """Attach asset ``asset_id`` under ``name`` to an owner (see AssetLinkInfo),
        replacing the asset that owner had under that name. Raises InvalidArgument for
        an unknown ``owner_kind`` or asset."""
        if owner_kind not in OWNER_KINDS:
            raise InvalidArgument(f"asset {asset_id} attached to a {owner_kind!r}: that is "
                                  f"not one of {', '.join(OWNER_KINDS)}")
        for what, value in (("owner", owner), ("name", name)):
            check_name(f"asset link {what}", value)
        with self._unit(write=True) as session:
            if session.get(Asset, asset_id) is None:
                raise InvalidArgument(f"no asset {asset_id} in this lab to attach as "
                                      f"{owner_kind} {owner!r}'s {name!r}")
            self._link(session, asset_id, owner_kind, owner, name)

    def _link(self, session: OrmSession, asset_id: int, owner_kind: str, owner: str,
              name: str) -> None:
        session.execute(self._insert()(AssetLink).values(
            asset_id=asset_id, owner_kind=owner_kind, owner=owner, name=name,
        ).on_conflict_do_update(index_elements=["owner_kind", "owner", "name"],
                                set_={"asset_id": asset_id}))

    def asset_links(self, owner_kind: str | None = None, owner: str | None = None,
                    asset: int | None = None) -> list[AssetLinkInfo]:
        """The links, by owner then name; only those of ``owner_kind``, ``owner`` and
        ``asset`` (an asset's id) when given."""
        where = [column == value for column, value in (
            (AssetLink.owner_kind, owner_kind), (AssetLink.owner, owner),
            (AssetLink.asset_id, asset)) if value is not None]
        with self._unit() as session:
            return [asset_link_info(row) for row in session.scalars(
                select(AssetLink).where(*where).order_by(
                    AssetLink.owner_kind, AssetLink.owner, AssetLink.name))]
