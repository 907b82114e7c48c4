//! Station I/O: the interlock that lets a test run, an alarm light, and the
//! e-stop and door inputs. The interlock follows the VM's decisions only;
//! an e-stop latches the station locked until an operator clears it and
//! records a Safety alert in the ledger.
//!
//! Backends: [`SimulatedIo`] (default; tests drive its inputs and read its
//! outputs) and `GpioIo` (feature `rpi`, rppal on a Raspberry Pi 5).

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use smart_contracts::State;
use smart_contracts::state::Interlock;

use crate::station::specialists::IoView;

/// What the station reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The emergency stop is pressed.
    pub estop: bool,
    /// The test cell's door is open.
    pub door_open: bool,
}

/// What the station drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The interlock lets the test run.
    pub unlocked: bool,
    /// The alarm light.
    pub alarm: bool,
}

/// Station I/O failed.
#[derive(Debug, thiserror::Error)]
#[error("station I/O: {0}")]
pub struct IoError(pub String);

/// Station I/O hardware.
pub trait StationIo: Send {
    /// Reads the inputs.
    fn read(&mut self) -> Result<Inputs, IoError>;
    /// Drives the outputs.
    fn write(&mut self, outputs: Outputs) -> Result<(), IoError>;
}

/// In-memory station I/O, shared with whoever drives it (tests, the kiosk).
#[derive(Clone, Debug, Default)]
pub struct SimulatedIo {
    inner: Arc<Mutex<(Inputs, Outputs)>>,
}

impl SimulatedIo {
    /// Sets the inputs (a test presses the e-stop).
    pub fn set_inputs(&self, inputs: Inputs) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0 = inputs;
    }

    /// The outputs last written.
    pub fn outputs(&self) -> Outputs {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

impl StationIo for SimulatedIo {
    fn read(&mut self) -> Result<Inputs, IoError> {
        Ok(self.inner.lock().unwrap_or_else(|p| p.into_inner()).0)
    }

    fn write(&mut self, outputs: Outputs) -> Result<(), IoError> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1 = outputs;
        Ok(())
    }
}

/// GPIO on a Raspberry Pi (BCM pin numbers). `Gpio::new()` fails off a Pi.
#[cfg(feature = "rpi")]
#[derive(Debug)]
pub struct GpioIo {
    interlock: rppal::gpio::OutputPin,
    alarm: rppal::gpio::OutputPin,
    estop: rppal::gpio::InputPin,
    door: rppal::gpio::InputPin,
}

#[cfg(feature = "rpi")]
impl GpioIo {
    /// Claims the pins: interlock and alarm outputs, e-stop and door inputs (active low, pulled up).
    pub fn new(interlock: u8, alarm: u8, estop: u8, door: u8) -> Result<GpioIo, IoError> {
        let gpio = rppal::gpio::Gpio::new().map_err(|e| IoError(e.to_string()))?;
        let pin = |n: u8| gpio.get(n).map_err(|e| IoError(format!("pin {n}: {e}")));
        Ok(GpioIo {
            interlock: pin(interlock)?.into_output_low(),
            alarm: pin(alarm)?.into_output_low(),
            estop: pin(estop)?.into_input_pullup(),
            door: pin(door)?.into_input_pullup(),
        })
    }
}

#[cfg(feature = "rpi")]
impl StationIo for GpioIo {
    fn read(&mut self) -> Result<Inputs, IoError> {
        Ok(Inputs {
            estop: self.estop.is_low(),
            door_open: self.door.is_low(),
        })
    }

    fn write(&mut self, outputs: Outputs) -> Result<(), IoError> {
        if outputs.unlocked {
            self.interlock.set_high();
        } else {
            self.interlock.set_low();
        }
        if outputs.alarm {
            self.alarm.set_high();
        } else {
            self.alarm.set_low();
        }
        Ok(())
    }
}

/// Something the controller saw that must go into the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StationEvent {
    /// The e-stop was pressed: the station is locked until cleared.
    EstopPressed,
    /// The door opened while the interlock was unlocked: locked.
    DoorOpenedWhileUnlocked,
}

/// Drives a station's outputs from the contract state and its inputs.
pub struct Controller {
    io: Box<dyn StationIo>,
    /// The interlock this station drives (a station or equipment id in contracts).
    interlock: String,
    /// Latched by an e-stop until [`Controller::clear`].
    latched: bool,
    last: Inputs,
    panel: Option<std::sync::Arc<Panel>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Controller({}, latched: {})",
            self.interlock, self.latched
        )
    }
}

impl Controller {
    /// A controller for the interlock named `interlock`.
    pub fn new(io: Box<dyn StationIo>, interlock: &str) -> Controller {
        Controller {
            io,
            interlock: interlock.to_string(),
            latched: false,
            last: Inputs::default(),
            panel: None,
        }
    }

    /// Shares the kiosk's buttons (e-stop, clear) and shows it the I/O.
    pub fn with_panel(mut self, panel: std::sync::Arc<Panel>) -> Controller {
        self.panel = Some(panel);
        self
    }

    /// Clears an e-stop latch (after the incident is cleared by the role the contract names).
    pub fn clear(&mut self) {
        self.latched = false;
    }

    /// Reads the inputs and drives the outputs: unlocked only when the
    /// contract state unlocked this interlock, the equipment is not locked
    /// out, no e-stop is latched and the door is closed. Returns the events to record.
    pub fn tick(&mut self, state: &State) -> Result<Vec<StationEvent>, IoError> {
        let mut inputs = self.io.read()?;
        if let Some(p) = &self.panel {
            use std::sync::atomic::Ordering;
            // The kiosk's e-stop is a press: one tick of the input.
            if p.estop.swap(false, Ordering::SeqCst) {
                inputs.estop = true;
            }
            if p.clear.swap(false, Ordering::SeqCst) && !inputs.estop {
                self.latched = false;
            }
        }
        let mut events = Vec::new();
        if inputs.estop && !self.last.estop {
            self.latched = true;
            events.push(StationEvent::EstopPressed);
        }
        let locked_out = state
            .equipment
            .get(&self.interlock)
            .is_some_and(|e| e.locked_out.is_some());
        let allowed =
            state.interlocks.get(&self.interlock) == Some(&Interlock::Unlocked) && !locked_out;
        if inputs.door_open && !self.last.door_open && allowed && !self.latched {
            events.push(StationEvent::DoorOpenedWhileUnlocked);
        }
        let unlocked = allowed && !self.latched && !inputs.door_open;
        let alarm = self.latched || (inputs.door_open && allowed);
        self.io.write(Outputs { unlocked, alarm })?;
        if let Some(p) = &self.panel {
            *p.view.lock().unwrap_or_else(|e| e.into_inner()) =
                crate::station::specialists::IoView {
                    unlocked,
                    alarm,
                    latched: self.latched,
                    door_open: inputs.door_open,
                };
        }
        self.last = inputs;
        Ok(events)
    }
}

/// Buttons and lights shared between the kiosk and the station's I/O task.
#[derive(Debug, Default)]
pub struct Panel {
    /// The kiosk's e-stop button was pressed (read once by the I/O task).
    pub estop: AtomicBool,
    /// A cleared incident releases the e-stop latch (read once by the I/O task).
    pub clear: AtomicBool,
    /// The I/O as last driven.
    pub view: Mutex<IoView>,
    /// Status broadcasts sent (InfoBroadcast).
    pub info_sent: AtomicU64,
    /// Alerts broadcast (AlertBroadcast).
    pub alerts_sent: AtomicU64,
    /// Since when (ms) no hub has taken the outbox, while it holds entries.
    pub offline_since: Mutex<Option<u64>>,
}

impl Panel {
    /// The I/O as last driven.
    pub fn io(&self) -> IoView {
        *self.view.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unlocked: bool) -> State {
        let mut s = State::default();
        s.interlocks.insert(
            "furnace-3".into(),
            if unlocked {
                Interlock::Unlocked
            } else {
                Interlock::Locked
            },
        );
        s
    }

    #[test]
    fn the_interlock_follows_the_vm_decision_only() {
        let io = SimulatedIo::default();
        let mut c = Controller::new(Box::new(io.clone()), "furnace-3");
        c.tick(&State::default()).expect("tick");
        assert!(!io.outputs().unlocked, "no decision: locked");
        c.tick(&state(true)).expect("tick");
        assert!(io.outputs().unlocked);
        c.tick(&state(false)).expect("tick");
        assert!(!io.outputs().unlocked);
    }

    #[test]
    fn an_estop_latches_the_station_locked_and_is_reported_once() {
        let io = SimulatedIo::default();
        let mut c = Controller::new(Box::new(io.clone()), "furnace-3");
        assert!(c.tick(&state(true)).expect("tick").is_empty());
        io.set_inputs(Inputs {
            estop: true,
            door_open: false,
        });
        assert_eq!(
            c.tick(&state(true)).expect("tick"),
            vec![StationEvent::EstopPressed]
        );
        assert_eq!(
            io.outputs(),
            Outputs {
                unlocked: false,
                alarm: true
            }
        );
        // Released, but still latched: the VM's unlock is not enough.
        io.set_inputs(Inputs::default());
        assert!(c.tick(&state(true)).expect("tick").is_empty());
        assert!(!io.outputs().unlocked);
        c.clear();
        c.tick(&state(true)).expect("tick");
        assert_eq!(
            io.outputs(),
            Outputs {
                unlocked: true,
                alarm: false
            }
        );
    }

    #[test]
    fn opening_the_door_locks_and_alarms() {
        let io = SimulatedIo::default();
        let mut c = Controller::new(Box::new(io.clone()), "furnace-3");
        c.tick(&state(true)).expect("tick");
        io.set_inputs(Inputs {
            estop: false,
            door_open: true,
        });
        assert_eq!(
            c.tick(&state(true)).expect("tick"),
            vec![StationEvent::DoorOpenedWhileUnlocked]
        );
        assert_eq!(
            io.outputs(),
            Outputs {
                unlocked: false,
                alarm: true
            }
        );
    }
}
