"""One-time codes as an authenticator app shows them: RFC 6238 Appendix B, through a credential."""

from __future__ import annotations

import base64

import pytest

from app.secrets import Credential, CredentialError, KeyringSecrets, Totp

# RFC 6238 Appendix B: the seed is the ASCII string below, repeated to the hash's length.
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), VECTORS)
def test_resolved_totp_is_the_rfc_6238_code_of_the_moment(
    memory_keyring: object, at: int, sha1: str, sha256: str, sha512: str
) -> None:
    now = float(at)
    secrets = KeyringSecrets(clock=lambda: now)
    for algorithm, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        seed = base64.b32encode(SEEDS[algorithm]).decode()
        totp = Totp(seed, digits=8, algorithm=algorithm)
        secrets.add(f"bank-{algorithm}", Credential("alice", "hunter22", totp), replace=True)
        assert secrets.resolve(f"bank-{algorithm}.totp") == expected


def test_code_follows_the_clock_within_and_across_periods(memory_keyring: object) -> None:
    now = 1111111109.0
    secrets = KeyringSecrets(clock=lambda: now)
    seed = base64.b32encode(SEEDS["SHA1"]).decode()
    secrets.add("bank", Credential("alice", "hunter22", Totp.parse(seed)))
    first = secrets.resolve("bank.totp")
    assert first == "081804"  # 6 digits by default: the last six of the 8-digit vector
    now = 1111111080.0  # the same 30 s period
    assert secrets.resolve("bank.totp") == first
    now = 1111111111.0  # the next one
    assert secrets.resolve("bank.totp") == "050471"


def test_seed_as_sites_show_it_and_otpauth_uri() -> None:
    # 80-bit seeds (16 characters) are what many sites still issue.
    spaced = Totp.parse("jbsw y3dp ehpk 3pxp")
    assert spaced.seed == "JBSWY3DPEHPK3PXP" and len(spaced.code(0)) == 6
    uri = Totp.parse(
        "otpauth://totp/Shop:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
        "&issuer=Shop&algorithm=SHA256&digits=8&period=30"
    )
    assert (uri.algorithm, uri.digits) == ("SHA256", 8)
    assert uri.code(59) == "46119246"


@pytest.mark.parametrize("bad", ["not base32!", "18", "otpauth://totp/x?secret=1&digits=6", ""])
def test_a_seed_that_is_not_base32_is_refused_with_what_to_enter(bad: str) -> None:
    with pytest.raises(CredentialError, match="not base32"):
        Totp.parse(bad)
