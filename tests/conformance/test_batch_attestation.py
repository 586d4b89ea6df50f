"""Batch attestation: a device provisioned with `--attestation-key/--attestation-cert` signs
packed attestation with that key and ships the certificate, which python-fido2 verifies
against WebAuthn's packed-certificate requirements (§8.2.1)."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fido2.attestation import AttestationType, PackedAttestation
from fido2.ctap2 import Ctap2

from helpers import make
from server import PalmkeyServer
from udp_hid import open_device


def batch_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A self-signed certificate meeting WebAuthn's packed attestation requirements."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "palmkey test vendor"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"),
        x509.NameAttribute(NameOID.COMMON_NAME, "palmkey batch 1"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def batch_files(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = batch_certificate(key)
    key_path = tmp_path / "batch.key.der"
    cert_path = tmp_path / "batch.crt.der"
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return key_path, cert_path, cert


def test_provisioned_batch_certificate_is_used_and_verifies(palmkey_bin, batch_files):
    key_path, cert_path, cert = batch_files
    server = PalmkeyServer(
        palmkey_bin,
        extra_args=("--attestation-key", str(key_path), "--attestation-cert", str(cert_path)),
    )
    try:
        dev = open_device(server.host, server.port)
        try:
            att, h = make(Ctap2(dev))
        finally:
            dev.close()
    finally:
        server.stop()
    assert att.att_stmt["x5c"] == [cert.public_bytes(serialization.Encoding.DER)]
    result = PackedAttestation().verify(att.att_stmt, att.auth_data, h)
    assert result.attestation_type == AttestationType.BASIC
    # A different client data hash must not verify.
    with pytest.raises(Exception):
        PackedAttestation().verify(att.att_stmt, att.auth_data, os.urandom(32))


def test_mismatched_key_and_certificate_are_refused(palmkey_bin, batch_files, tmp_path):
    key_path, _, _ = batch_files
    other = batch_certificate(ec.generate_private_key(ec.SECP256R1()))
    other_path = tmp_path / "other.crt.der"
    other_path.write_bytes(other.public_bytes(serialization.Encoding.DER))
    with pytest.raises(RuntimeError, match="exited"):
        PalmkeyServer(
            palmkey_bin,
            extra_args=("--attestation-key", str(key_path), "--attestation-cert", str(other_path)),
        )
