"""The ACME CA behind the `CertificateAuthority` port (certbot's `acme` library): see client.py."""
