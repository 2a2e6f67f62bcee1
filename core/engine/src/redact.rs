//! Connection URLs as they may appear in logs, errors and status output: without their
//! password.

/// `scheme://user:***@host/...`; a URL without a password is returned as it is.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_stay_out() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/beskedfordeler"),
            "amqp://guest:***@127.0.0.1:5672/beskedfordeler"
        );
        assert_eq!(
            redact_url("postgres://kp:p@ss:word@127.0.0.1/x"),
            "postgres://kp:***@127.0.0.1/x"
        );
    }

    #[test]
    fn urls_without_a_password_are_left_alone() {
        assert_eq!(redact_url("amqp://127.0.0.1"), "amqp://127.0.0.1");
        assert_eq!(
            redact_url("amqp://guest@127.0.0.1"),
            "amqp://guest@127.0.0.1"
        );
        assert_eq!(
            redact_url("sqlite://data/knudepunkt.db"),
            "sqlite://data/knudepunkt.db"
        );
    }
}
