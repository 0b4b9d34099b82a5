from impact_miner.refs import extract_refs, ticket_keys


def test_ticket_keys_skip_standards_and_encodings() -> None:
    text = "SEARCH-88: use UTF-8 and SHA-256 per RFC-7231, fixes API-12 and CVE-2024-1234; not abc-1"
    assert ticket_keys(text) == ["SEARCH-88", "API-12"]


def test_pull_request_refs_use_the_repository() -> None:
    subject = "Speed up search (#123), follow-up to #45 and acme/web#7"
    assert extract_refs(subject, "acme/api") == ["acme/web#7", "acme/api#123", "acme/api#45"]


def test_urls_to_pull_requests_issues_and_merge_requests() -> None:
    body = (
        "See https://github.com/acme/api/pull/12 and https://gitlab.com/g/sub/web/-/merge_requests/5 "
        "and https://github.com/acme/api/issues/9#issuecomment-1 (KEY-9)"
    )
    assert extract_refs(body, "acme/api") == ["acme/api#12", "g/sub/web!5", "acme/api#9", "KEY-9"]


def test_bare_numbers_without_repository_are_not_refs() -> None:
    assert extract_refs("Fix #12 for ABC-1", "") == ["ABC-1"]
