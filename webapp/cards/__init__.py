"""The user's own card: a vCard shown as a QR code and offered as a .vcf file."""
