"""peewee models, defined per Database so several databases can live in one process.

The DDL itself lives in migrations.py; these classes only map the columns.
Foreign keys are plain integer columns here (the constraints are in the DDL)
so no query ever lazy-loads a related row behind the caller's back.
"""
from __future__ import annotations

from dataclasses import dataclass

import peewee
from peewee import AutoField, BigIntegerField, BooleanField, IntegerField, Model, TextField

from .fields import DecimalText, JsonText, UtcTime


@dataclass(frozen=True)
class Tables:
    schema_version: type[Model]
    account: type[Model]
    deal: type[Model]
    deal_event: type[Model]
    receipt: type[Model]
    processed_email: type[Model]
    lease_epoch: type[Model]
    desk_switch: type[Model]


def define_tables(peewee_db: peewee.Database) -> Tables:
    class Base(Model):
        class Meta:
            database = peewee_db
            legacy_table_names = False

    class SchemaVersion(Base):
        version = IntegerField(primary_key=True)
        name = TextField()
        applied_at = UtcTime()

        class Meta:
            table_name = "schema_version"

    class AccountRow(Base):
        id = AutoField()
        kind = TextField()
        name = TextField()
        settings = JsonText()
        secret = TextField()
        enabled = BooleanField()
        created_at = UtcTime()
        updated_at = UtcTime()
        revision = BigIntegerField(default=1)

        class Meta:
            table_name = "accounts"

    class DealRow(Base):
        id = AutoField()
        payout_id = TextField()
        gate_account_id = BigIntegerField(null=True)
        bybit_account_id = BigIntegerField(null=True)
        state = TextField()
        amount_rub = DecimalText()
        price = DecimalText(null=True)
        quantity = DecimalText(null=True)
        ad_id = TextField(null=True)
        order_id = TextField(null=True)
        method = TextField(null=True)
        bank = TextField(null=True)
        wallet = TextField(null=True)
        buyer_name = TextField(null=True)
        requisites_sent_at = UtcTime(null=True)
        reason = TextField(null=True)
        manual = BooleanField()
        last_seq = BigIntegerField()
        created_at = UtcTime()
        updated_at = UtcTime()

        class Meta:
            table_name = "deals"

    class DealEventRow(Base):
        id = AutoField()
        deal_id = BigIntegerField()
        seq = BigIntegerField()
        ts = UtcTime()
        kind = TextField()
        step = TextField()
        from_state = TextField(null=True)
        to_state = TextField(null=True)
        ok = BooleanField(null=True)
        data = JsonText()
        lease_key = TextField(null=True)
        lease_epoch = BigIntegerField(null=True)

        class Meta:
            table_name = "deal_events"

    class ReceiptRow(Base):
        id = AutoField()
        receipt_number = TextField()
        sha256 = TextField()
        deal_id = BigIntegerField()
        source = TextField()
        parsed = JsonText()
        verdict = TextField()
        created_at = UtcTime()

        class Meta:
            table_name = "receipts"

    class ProcessedEmailRow(Base):
        id = AutoField()
        mailbox = TextField()
        uidvalidity = BigIntegerField()
        uid = BigIntegerField()
        message_id = TextField(null=True)
        outcome = TextField()
        processed_at = UtcTime()

        class Meta:
            table_name = "processed_emails"

    class LeaseEpochRow(Base):
        lease_key = TextField(primary_key=True)
        epoch = BigIntegerField()
        updated_at = UtcTime()

        class Meta:
            table_name = "lease_epochs"

    class DeskSwitchRow(Base):
        name = TextField(primary_key=True)
        value = JsonText()
        updated_at = UtcTime()

        class Meta:
            table_name = "desk_switches"

    return Tables(
        schema_version=SchemaVersion,
        account=AccountRow,
        deal=DealRow,
        deal_event=DealEventRow,
        receipt=ReceiptRow,
        processed_email=ProcessedEmailRow,
        lease_epoch=LeaseEpochRow,
        desk_switch=DeskSwitchRow,
    )
