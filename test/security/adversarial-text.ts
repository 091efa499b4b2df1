/**
 * Adversarial texts for the redactor: each repeats, to a given size, a fragment built to make a
 * detector's candidate search restart over and over (the shapes that made the old JWT and PEM
 * detectors quadratic), plus benign text of the same size as the baseline.
 */

/** Fragments repeated to size; each names the detector it aims at. */
export const ADVERSARIAL_FRAGMENTS: Readonly<Record<string, string>> = {
  'jwt-restarts': '-eyJ',
  'jwt-dots': 'eyJhbGciOi.',
  'jwt-headers': 'eyJhbGciOiJIUzI1NiJ9.x.',
  'pem-begins': '-----BEGIN PRIVATE KEY-----',
  'pem-ends': '-----END PRIVATE KEY----- -----BEGIN RSA PRIVATE KEY-----\n',
  'email-locals': 'a.',
  'email-ats': 'a@b.',
  'email-domains': 'x@a-a-a-a-a-a.',
  'card-digits': '4 ',
  'card-dots': '4111.',
  'iban-groups': 'DE89 ',
  'ssn-dashes': '123-45-',
  'ipv6-colons': '1:',
  'ipv4-dots': '1.2.',
  'phone-plus': '+1 (',
  'phone-keyword': 'call me at 5',
  'bearer-words': 'Bearer ',
  'aws-secret-names': 'aws_secret_access_key = ',
  'quoted-pairs': '"password": "',
  'eq-pairs': 'password=x&',
  'colon-pairs': 'a: ',
  'zero-width': 'a\u200b',
  'full-width': '４\u3000',
  'combining': 'e\u0301',
  'surrogates': '😀',
};

/** `fragment` repeated to exactly `size` characters (the last copy cut). */
export function repeatTo(fragment: string, size: number): string {
  return fragment.repeat(Math.ceil(size / fragment.length)).slice(0, size);
}

/** Ordinary prose of `size` characters: the baseline. */
export function benignText(size: number): string {
  return repeatTo('The quick brown fox jumps over the lazy dog, then rests for 12 minutes. ', size);
}
