//! WebAuthn entities as CTAP encodes them: relying party, user, credential descriptor.

use ciborium::Value;

use super::cbor::Fields;
use super::error::Result;
use crate::ctap::cbor::{bytes, MapBuilder};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: Option<String>,
}

impl RelyingParty {
    pub fn new(id: impl Into<String>) -> Self {
        RelyingParty {
            id: id.into(),
            name: None,
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        MapBuilder::new()
            .insert("id", self.id.as_str())
            .insert_opt("name", self.name.as_deref())
            .build()
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Self> {
        Ok(RelyingParty {
            id: f.req("id")?,
            name: f.opt("name")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

impl User {
    pub fn new(id: impl Into<Vec<u8>>) -> Self {
        User {
            id: id.into(),
            name: None,
            display_name: None,
        }
    }

    pub fn named(id: impl Into<Vec<u8>>, name: &str, display_name: &str) -> Self {
        User {
            id: id.into(),
            name: Some(name.to_owned()),
            display_name: Some(display_name.to_owned()),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        MapBuilder::new()
            .insert("id", bytes(self.id.clone()))
            .insert_opt("name", self.name.as_deref())
            .insert_opt("displayName", self.display_name.as_deref())
            .build()
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Self> {
        Ok(User {
            id: f.req("id")?,
            name: f.opt("name")?,
            display_name: f.opt("displayName")?,
        })
    }
}

/// A PublicKeyCredentialDescriptor of type "public-key".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDescriptor {
    pub id: Vec<u8>,
}

impl CredentialDescriptor {
    pub fn new(id: impl Into<Vec<u8>>) -> Self {
        CredentialDescriptor { id: id.into() }
    }

    pub(crate) fn to_value(&self) -> Value {
        MapBuilder::new()
            .insert("id", bytes(self.id.clone()))
            .insert("type", "public-key")
            .build()
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Self> {
        Ok(CredentialDescriptor { id: f.req("id")? })
    }

    pub(crate) fn list_value(list: &[CredentialDescriptor]) -> Option<Value> {
        (!list.is_empty()).then(|| Value::Array(list.iter().map(Self::to_value).collect()))
    }
}
