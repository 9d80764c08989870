//! `publishes` and `subscribes`: defined, published, owned by a known service, and a broker
//! to carry them.

use std::collections::{BTreeSet, HashMap};

use super::duplicate;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::Manifest;
use crate::model::Broker;

pub(super) fn events(manifest: &Manifest, broker: Option<Broker>, out: &mut Diagnostics) {
    let published = publishes(manifest, out);
    subscribes(manifest, &published, out);
    let services = || manifest.services.values();
    let uses_events = services()
        .flat_map(|s| &s.publishes)
        .chain(services().flat_map(|s| &s.subscribes))
        .next()
        .map(toml::Spanned::span);
    if let (Some(first_use), Some(Broker::None), Some(written)) = (uses_events, broker, &manifest.messaging.broker) {
        out.push(
            Diagnostic::error(Code::E023, "events are used but `messaging.broker` is \"none\"")
                .at(written.span(), "no broker")
                .also(first_use, "event used here")
                .help("set `broker = \"nats\"`, or remove `publishes` and `subscribes`"),
        );
    }
}

/// Checks `publishes` and returns the published events by owning service, so
/// subscriptions can be checked against them.
fn publishes<'m>(manifest: &'m Manifest, out: &mut Diagnostics) -> BTreeSet<(&'m str, &'m str)> {
    let mut published = BTreeSet::new();
    for (name, service) in &manifest.services {
        let defined: Vec<&str> = service.events.keys().map(|k| k.get_ref().as_str()).collect();
        let mut seen = HashMap::new();
        for event in &service.publishes {
            let text = event.get_ref().as_str();
            if defined.contains(&text) {
                duplicate(event, &mut seen, "event", out);
                published.insert((name.get_ref().as_str(), text));
            } else {
                let mut d = Diagnostic::error(
                    Code::E014,
                    format!("`{}` publishes `{text}`, which it does not define", name.get_ref()),
                )
                .at(event.span(), "no such event in this service");
                d = match did_you_mean(text, defined.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "define its payload in `[services.{}.events.{text}]`",
                        name.get_ref()
                    )),
                };
                out.push(d);
            }
        }
    }
    published
}

fn subscribes(manifest: &Manifest, published: &BTreeSet<(&str, &str)>, out: &mut Diagnostics) {
    for service in manifest.services.values() {
        let mut seen = HashMap::new();
        for subscription in &service.subscribes {
            let text = subscription.get_ref().as_str();
            let Some((owner, event)) = text.split_once('.') else {
                let definer = manifest
                    .services
                    .iter()
                    .find(|(_, s)| s.events.contains_key(text))
                    .map(|(n, _)| n.get_ref());
                let help = match definer {
                    Some(owner) => format!("write it as `{owner}.{text}`"),
                    None => format!("write it as `<service>.{text}`, naming the service that publishes it"),
                };
                out.push(
                    Diagnostic::error(Code::E014, format!("subscription `{text}` does not name its publisher"))
                        .at(subscription.span(), "expected `<service>.<Event>`")
                        .help(help),
                );
                continue;
            };
            let Some(owner_spec) = manifest.services.get(owner) else {
                let mut d = Diagnostic::error(Code::E012, format!("unknown service `{owner}` in `subscribes`"))
                    .at(subscription.span(), "not defined in this manifest");
                let known = manifest.services.keys().map(|k| k.get_ref().as_str());
                d = match did_you_mean(owner, known) {
                    Some(s) => d.help(format!("did you mean `{s}.{event}`?")),
                    None => d.help(format!(
                        "define `[services.{owner}]`, or name the service that publishes `{event}`"
                    )),
                };
                out.push(d);
                continue;
            };
            if published.contains(&(owner, event)) {
                duplicate(subscription, &mut seen, "subscription", out);
            } else if owner_spec.events.contains_key(event) {
                out.push(
                    Diagnostic::error(
                        Code::E014,
                        format!("`{owner}` defines `{event}` but does not publish it"),
                    )
                    .at(subscription.span(), "never published")
                    .help(format!("add `\"{event}\"` to `publishes` of `{owner}`")),
                );
            } else {
                let mut d = Diagnostic::error(
                    Code::E014,
                    format!("unknown event `{event}` of `{owner}` in `subscribes`"),
                )
                .at(subscription.span(), "no such event");
                let known = owner_spec.events.keys().map(|k| k.get_ref().as_str());
                d = match did_you_mean(event, known) {
                    Some(s) => d.help(format!("did you mean `{owner}.{s}`?")),
                    None => d.help(format!(
                        "define it in `[services.{owner}.events.{event}]` and publish it"
                    )),
                };
                out.push(d);
            }
        }
    }
}
