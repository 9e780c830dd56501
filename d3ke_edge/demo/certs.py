"""HTTPS for the phone on the LAN: a local certificate authority made once (its certificate is what the phone is
told to trust) and a server certificate it signs for this machine's names and addresses, remade when they change.
Browsers give the camera (``getUserMedia``) and service workers only to secure pages: HTTPS, or localhost."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificates", "ensure_certificates", "lan_addresses"]


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the authority's certificate: install it on the phone
    cert: Path  # the server's certificate chain
    key: Path  # the server's private key
    fingerprint: str  # SHA-256 of the authority's certificate (compare it on the phone)
    names: tuple[str, ...]


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a phone on the same network may reach (the default route's first)."""
    found = []
    try:  # the address the default route leaves from (no packet is sent for a UDP connect)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            found.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        found += [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    return list(dict.fromkeys(a for a in found if not a.startswith("127.")))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def ensure_certificates(folder: Path, hosts: list[str] | None = None) -> Certificates:
    """The authority (made once, kept in ``folder``) and a server certificate for ``hosts`` (default: localhost,
    this machine's name and LAN addresses), made again when a name is missing from it or it expires within 30 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys(hosts or ["localhost", "127.0.0.1", socket.gethostname(), *lan_addresses()]))
    now = dt.datetime.now(dt.timezone.utc)
    ca_cert_path, ca_key_path = folder / "d3ke-edge-demo-ca.crt", folder / "ca.key"
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    pem = serialization.Encoding.PEM
    if ca_cert_path.is_file() and ca_key_path.is_file():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"d3ke-edge demo CA ({socket.gethostname()})")])
        ca_cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=True, crl_sign=True, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        _write_private(ca_key_path, ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        ca_cert_path.write_bytes(ca_cert.public_bytes(pem))
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    fresh = False
    if cert_path.is_file() and key_path.is_file():
        old = x509.load_pem_x509_certificate(cert_path.read_bytes())
        have = set(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        fresh = set(sans) <= have and old.not_valid_after_utc > now + dt.timedelta(days=30)
    if not fresh:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=397))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        cert_path.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    fp = ca_cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return Certificates(ca_cert_path, cert_path, key_path, fp, names)
