//! Monitoring's mails go out through a real SMTP server (`aiosmtpd` with
//! its Mailbox handler, started by `.ci/smtp/start.sh`, which exports
//! `NUVOLA_TEST_SMTP` and `NUVOLA_TEST_SMTP_MAILDIR`) and are read back
//! from the sink's maildir.

use nuvola_drivers::testing::{mails_mentioning, smtp_sink};
use nuvola_notify::notices::Confirmation;
use nuvola_notify::{Mail, Notifier, SmtpSettings};

#[tokio::test]
async fn a_subscription_confirmation_is_mailed_through_the_relay() {
    let Some((address, maildir)) = smtp_sink() else { return };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let smtp = SmtpSettings { smtp: address, from: "status@nuvola.test".into() };
    let notifier = Notifier::new(Some(smtp), vec![], "https://nuvola.test");
    let mail = Mail::Confirmation(Confirmation {
        components: vec!["Backbone Bari compute".into()],
        confirm_url: format!("https://nuvola.test/status/subscriptions/confirm?token={token}"),
        unsubscribe_url: format!("https://nuvola.test/status/subscriptions/unsubscribe?token={token}"),
    });
    notifier.mail("subscriber@example.org", &mail).expect("mail goes out").await.unwrap();

    let got = mails_mentioning(&maildir, &token).into_iter().next().expect("the sink kept the message");
    assert!(got.contains("From: status@nuvola.test\n") && got.contains("To: subscriber@example.org\n"), "{got}");
    assert!(got.contains("Subject: [nuvola status] Confirm your subscription\n"), "{got}");
    assert!(
        got.contains(&format!(
            "To confirm, open this link:\nhttps://nuvola.test/status/subscriptions/confirm?token={token}\n"
        )),
        "{got}"
    );
    assert!(
        got.contains(&format!(
            "To stop at any time:\nhttps://nuvola.test/status/subscriptions/unsubscribe?token={token}\n"
        )),
        "{got}"
    );

    // Without a relay nothing is sent.
    assert!(Notifier::new(None, vec![], "").mail("subscriber@example.org", &mail).is_none());
}
