//! Genuine print scores against relative pose and blur, to see what limits them.
use palmkey_palm::engine::Engine;
use palmkey_palm::matcher::{compare, SearchRange};
use palmkey_palm::synth::Identity;

fn main() {
    let engine = Engine::default();
    let mut rows = Vec::new();
    for id in 0..6 {
        let person = Identity::new(3, id);
        let s: Vec<_> = (0..6).map(|k| person.sample_with_conditions(k)).collect();
        let t: Vec<_> = s.iter().map(|x| engine.extract(&x.capture).ok()).collect();
        for i in 0..6 {
            for j in i + 1..6 {
                let (Some(a), Some(b)) = (&t[i], &t[j]) else {
                    continue;
                };
                let al = compare(
                    a.print().unwrap(),
                    b.print().unwrap(),
                    SearchRange::default(),
                )
                .unwrap();
                let vl =
                    compare(a.vein().unwrap(), b.vein().unwrap(), SearchRange::default()).unwrap();
                let (pa, pb) = (s[i].acquisition.pose, s[j].acquisition.pose);
                rows.push((
                    al.similarity,
                    vl.similarity,
                    pb.rotation_deg - pa.rotation_deg,
                    (pb.shift[0] - pa.shift[0]) * 32.0,
                    (pb.shift[1] - pa.shift[1]) * 32.0,
                    pb.scale / pa.scale,
                    s[i].acquisition
                        .print_sensor
                        .blur
                        .max(s[j].acquisition.print_sensor.blur),
                    s[i].acquisition.band_aid.is_some() || s[j].acquisition.band_aid.is_some(),
                    al,
                ));
            }
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for r in rows {
        println!("p {:.3} v {:.3} | drot {:6.1} dx {:5.1} dy {:5.1} scale {:.3} blur {:.2} band {} | found rot {} s {} dx {} dy {} bits {}", r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8.rotation_deg, r.8.scale, r.8.dx, r.8.dy, r.8.compared_bits);
    }
}
