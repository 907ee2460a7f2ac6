//! Schemas as data (RFC 7643 sections 2, 4, 7 and 8.7): every attribute with its
//! characteristics, the core User, Enterprise User and core Group schemas, and resource types.
//!
//! A [`ResourceSchema`] is what the rest of the core works with: a resource type's core schema,
//! its extensions and the common attributes (`id`, `externalId`, `meta`), with case-insensitive
//! lookup. A tenant's own extension is one more [`Schema`] in its list.

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

/// The core User schema URN.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The Enterprise User extension URN.
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema URN.
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An attribute's data type (RFC 7643 section 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeType {
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An xsd:dateTime string, e.g. `2008-01-23T04:56:22Z`.
    DateTime,
    /// Base64 data.
    Binary,
    /// A URI.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl AttributeType {
    /// The name in schema representations.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Binary => "binary",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
        }
    }
}

/// Whether and how an attribute may be changed (RFC 7643 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the service provider only; ignored on input.
    ReadOnly,
    /// Freely changed.
    ReadWrite,
    /// Set once, then never changed.
    Immutable,
    /// Set, never returned (passwords).
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// Always, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when asked for in `attributes`.
    Request,
}

/// How unique an attribute's value is (RFC 7643 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique within the service provider (here: within the tenant).
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition with all its characteristics.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The canonical name (`userName`); lookups ignore case.
    pub name: String,
    /// The data type.
    pub ty: AttributeType,
    /// Whether it holds a list of values.
    pub multi_valued: bool,
    /// A description for people.
    pub description: String,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether string comparison is case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Uniqueness.
    pub uniqueness: Uniqueness,
    /// Suggested values (`work`, `home`, …).
    pub canonical_values: Vec<String>,
    /// For references: what they point to (`User`, `Group`, `external`, `uri`).
    pub reference_types: Vec<String>,
    /// For complex attributes: the sub-attributes.
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    fn new(name: &str, ty: AttributeType, description: &str) -> Self {
        Attribute {
            name: name.to_string(),
            ty,
            multi_valued: false,
            description: description.to_string(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// A string attribute with default characteristics.
    pub fn string(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::String, description)
    }
    /// A boolean attribute.
    pub fn boolean(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::Boolean, description)
    }
    /// A dateTime attribute.
    pub fn date_time(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::DateTime, description)
    }
    /// A binary attribute.
    pub fn binary(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::Binary, description)
    }
    /// An integer attribute.
    pub fn integer(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::Integer, description)
    }
    /// A decimal attribute.
    pub fn decimal(name: &str, description: &str) -> Self {
        Self::new(name, AttributeType::Decimal, description)
    }
    /// A reference attribute pointing to `types`.
    pub fn reference(name: &str, types: &[&str], description: &str) -> Self {
        let mut a = Self::new(name, AttributeType::Reference, description);
        a.reference_types = types.iter().map(|s| s.to_string()).collect();
        a
    }
    /// A complex attribute.
    pub fn complex(name: &str, description: &str, subs: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, AttributeType::Complex, description);
        a.sub_attributes = subs;
        a
    }
    /// Makes it multi-valued.
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    /// Makes it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Makes string comparison case-sensitive.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Sets the mutability.
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// Sets when it is returned.
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Sets the uniqueness.
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    /// Sets the canonical values.
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The sub-attribute named `name` (any case).
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema representation (RFC 7643 section 7).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.ty.as_str(),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Never => "never",
                Returned::Default => "default",
                Returned::Request => "request",
            },
            "uniqueness": match self.uniqueness {
                Uniqueness::None => "none",
                Uniqueness::Server => "server",
                Uniqueness::Global => "global",
            },
        });
        if let Some(obj) = v.as_object_mut() {
            if !self.canonical_values.is_empty() {
                obj.insert("canonicalValues".into(), json!(self.canonical_values));
            }
            if !self.reference_types.is_empty() {
                obj.insert("referenceTypes".into(), json!(self.reference_types));
            }
            if self.ty == AttributeType::Complex {
                obj.insert(
                    "subAttributes".into(),
                    Value::Array(self.sub_attributes.iter().map(Attribute::to_json).collect()),
                );
            }
        }
        v
    }
}

/// A schema: a URN, a name, and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// The URN (`urn:ietf:params:scim:schemas:core:2.0:User`).
    pub id: String,
    /// A short name.
    pub name: String,
    /// A description.
    pub description: String,
    /// The attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The attribute named `name` (any case).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema representation served at `/Schemas/{id}` (RFC 7643 section 7).
    pub fn to_json(&self, location: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": location },
        })
    }
}

/// A multi-valued complex attribute with `value`, `display`, `type` and `primary` (the shape of
/// emails, phoneNumbers, ims, photos, entitlements, roles, x509Certificates).
fn plural(name: &str, description: &str, value: Attribute, types: &[&str]) -> Attribute {
    Attribute::complex(
        name,
        description,
        vec![
            value,
            Attribute::string("display", "A human-readable name, primarily used for display purposes."),
            Attribute::string("type", "A label indicating the attribute's function.").canonical(types),
            Attribute::boolean("primary", "Whether this is the primary value of the attribute."),
        ],
    )
    .multi()
}

/// The common attributes of every resource (RFC 7643 sections 3 and 3.1): `schemas`, `id`,
/// `externalId`, `meta`.
pub fn common_attributes() -> Vec<Attribute> {
    use Mutability::*;
    vec![
        Attribute::reference("schemas", &["uri"], "The schema URNs the resource conforms to.")
            .multi()
            .required()
            .returned(Returned::Always),
        Attribute::string("id", "A unique identifier for the resource, assigned by the service provider.")
            .case_exact()
            .mutability(ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        Attribute::string("externalId", "An identifier for the resource as defined by the provisioning client.")
            .case_exact(),
        Attribute::complex(
            "meta",
            "Resource metadata.",
            vec![
                Attribute::string("resourceType", "The name of the resource type.").case_exact().mutability(ReadOnly),
                Attribute::date_time("created", "When the resource was added.").mutability(ReadOnly),
                Attribute::date_time("lastModified", "When the resource was last changed.").mutability(ReadOnly),
                Attribute::reference("location", &["uri"], "The URI of the resource.")
                    .case_exact()
                    .mutability(ReadOnly),
                Attribute::string("version", "The version (ETag) of the resource.").case_exact().mutability(ReadOnly),
            ],
        )
        .mutability(ReadOnly),
    ]
}

/// The core User schema (RFC 7643 sections 4.1 and 8.7.1).
pub fn user_schema() -> Schema {
    use Mutability::*;
    let s = Attribute::string;
    Schema {
        id: USER_URN.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes: vec![
            s("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.")
                .required()
                .uniqueness(Uniqueness::Server),
            Attribute::complex(
                "name",
                "The components of the user's real name.",
                vec![
                    s("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
                    s("familyName", "The family name of the User, or last name."),
                    s("givenName", "The given name of the User, or first name."),
                    s("middleName", "The middle name(s) of the User."),
                    s("honorificPrefix", "The honorific prefix(es) of the User, or title (e.g. 'Ms.')."),
                    s("honorificSuffix", "The honorific suffix(es) of the User, or suffix (e.g. 'III')."),
                ],
            ),
            s("displayName", "The name of the User, suitable for display to end-users."),
            s("nickName", "The casual way to address the user in real life."),
            Attribute::reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
            s("title", "The user's title, such as \"Vice President\"."),
            s("userType", "Used to identify the relationship between the organization and the user."),
            s("preferredLanguage", "Indicates the User's preferred written or spoken language (e.g. 'en-US')."),
            s("locale", "Used to indicate the User's default location for localization purposes (e.g. 'en-US')."),
            s("timezone", "The User's time zone in the 'Olson' time zone database format (e.g. 'America/Los_Angeles')."),
            Attribute::boolean("active", "A Boolean value indicating the User's administrative status."),
            s("password", "The User's cleartext password; never returned.")
                .mutability(WriteOnly)
                .returned(Returned::Never),
            plural("emails", "Email addresses for the user.", s("value", "Email address for the User."), &["work", "home", "other"]),
            plural(
                "phoneNumbers",
                "Phone numbers for the User.",
                s("value", "Phone number of the User."),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            plural(
                "ims",
                "Instant messaging addresses for the User.",
                s("value", "Instant messaging address for the User."),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
            plural(
                "photos",
                "URLs of photos of the User.",
                Attribute::reference("value", &["external"], "URL of a photo of the User.").case_exact(),
                &["photo", "thumbnail"],
            ),
            Attribute::complex(
                "addresses",
                "A physical mailing address for this User.",
                vec![
                    s("formatted", "The full mailing address, formatted for display or use with a mailing label."),
                    s("streetAddress", "The full street address component."),
                    s("locality", "The city or locality component."),
                    s("region", "The state or region component."),
                    s("postalCode", "The zip code or postal code component."),
                    s("country", "The country name component (ISO 3166-1 alpha-2 recommended)."),
                    s("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
                    Attribute::boolean("primary", "Whether this is the primary address."),
                ],
            )
            .multi(),
            Attribute::complex(
                "groups",
                "A list of groups to which the user belongs, either through direct membership or through nested groups.",
                vec![
                    s("value", "The identifier of the User's group.").mutability(ReadOnly),
                    Attribute::reference("$ref", &["User", "Group"], "The URI of the corresponding 'Group' resource.").mutability(ReadOnly),
                    s("display", "A human-readable name, primarily used for display purposes.").mutability(ReadOnly),
                    s("type", "Whether the membership is direct or indirect.").canonical(&["direct", "indirect"]).mutability(ReadOnly),
                ],
            )
            .multi()
            .mutability(ReadOnly),
            plural("entitlements", "A list of entitlements for the User.", s("value", "The value of an entitlement."), &[]),
            plural("roles", "A list of roles for the User.", s("value", "The value of a role."), &[]),
            plural(
                "x509Certificates",
                "A list of certificates issued to the User.",
                Attribute::binary("value", "The value of an X.509 certificate."),
                &[],
            ),
        ],
    }
}

/// The Enterprise User extension (RFC 7643 section 4.3).
pub fn enterprise_user_schema() -> Schema {
    let s = Attribute::string;
    Schema {
        id: ENTERPRISE_USER_URN.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes: vec![
            s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person by the organization."),
            s("costCenter", "Identifies the name of a cost center."),
            s("organization", "Identifies the name of an organization."),
            s("division", "Identifies the name of a division."),
            s("department", "Identifies the name of a department."),
            Attribute::complex(
                "manager",
                "The User's manager.",
                vec![
                    s("value", "The id of the SCIM resource representing the User's manager."),
                    Attribute::reference(
                        "$ref",
                        &["User"],
                        "The URI of the SCIM resource representing the User's manager.",
                    ),
                    s("displayName", "The displayName of the User's manager.").mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

/// The core Group schema (RFC 7643 sections 4.2 and 8.7.1).
pub fn group_schema() -> Schema {
    use Mutability::*;
    Schema {
        id: GROUP_URN.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes: vec![
            Attribute::string("displayName", "A human-readable name for the Group.").required(),
            Attribute::complex(
                "members",
                "A list of members of the Group.",
                vec![
                    Attribute::string("value", "Identifier of the member of this Group.")
                        .case_exact()
                        .mutability(Immutable),
                    Attribute::reference(
                        "$ref",
                        &["User", "Group"],
                        "The URI corresponding to a SCIM resource that is a member of this Group.",
                    )
                    .mutability(Immutable),
                    Attribute::string("type", "A label indicating the type of resource, e.g. 'User' or 'Group'.")
                        .canonical(&["User", "Group"])
                        .mutability(Immutable),
                    // Not in RFC 7643's Group schema, but in its examples and sent by Okta: accepted
                    // (and ignored) on input, computed from the member on output when asked for.
                    Attribute::string("display", "A human-readable name for the member (returned when requested).")
                        .mutability(ReadOnly)
                        .returned(Returned::Request),
                ],
            )
            .multi(),
        ],
    }
}

/// A resource type (RFC 7643 section 6): what an endpoint serves.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSchema {
    /// `User` or `Group`.
    pub name: String,
    /// `/Users` or `/Groups`.
    pub endpoint: String,
    /// The core schema.
    pub core: Arc<Schema>,
    /// Extensions with whether each is required.
    pub extensions: Vec<(Arc<Schema>, bool)>,
    /// `id`, `externalId`, `meta`.
    pub common: Vec<Attribute>,
}

/// Where an attribute was found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Located<'a> {
    /// The schema it belongs to, `None` for the common attributes.
    pub schema: Option<&'a Schema>,
    /// Whether that schema is an extension (its attributes live under the URN key).
    pub in_extension: bool,
    /// The attribute.
    pub attribute: &'a Attribute,
}

impl ResourceSchema {
    /// The User resource type with the Enterprise extension.
    pub fn user() -> &'static ResourceSchema {
        static USER: OnceLock<ResourceSchema> = OnceLock::new();
        USER.get_or_init(|| ResourceSchema {
            name: "User".into(),
            endpoint: "/Users".into(),
            core: Arc::new(user_schema()),
            extensions: vec![(Arc::new(enterprise_user_schema()), false)],
            common: common_attributes(),
        })
    }

    /// The Group resource type.
    pub fn group() -> &'static ResourceSchema {
        static GROUP: OnceLock<ResourceSchema> = OnceLock::new();
        GROUP.get_or_init(|| ResourceSchema {
            name: "Group".into(),
            endpoint: "/Groups".into(),
            core: Arc::new(group_schema()),
            extensions: Vec::new(),
            common: common_attributes(),
        })
    }

    /// The extension schema with this URN (any case).
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions.iter().map(|(s, _)| s.as_ref()).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is this type's core schema or one of its extensions.
    pub fn knows_schema(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn) || self.extension(urn).is_some()
    }

    /// Finds a top-level attribute: `urn` is the schema URN the path named, if any.
    pub fn find(&self, urn: Option<&str>, name: &str) -> Option<Located<'_>> {
        match urn {
            None => {
                if let Some(a) = self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name)) {
                    return Some(Located { schema: None, in_extension: false, attribute: a });
                }
                if let Some(a) = self.core.attribute(name) {
                    return Some(Located { schema: Some(&self.core), in_extension: false, attribute: a });
                }
                None
            }
            Some(urn) if self.core.id.eq_ignore_ascii_case(urn) => self
                .core
                .attribute(name)
                .map(|a| Located { schema: Some(&self.core), in_extension: false, attribute: a })
                .or_else(|| {
                    self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name)).map(|a| Located {
                        schema: None,
                        in_extension: false,
                        attribute: a,
                    })
                }),
            Some(urn) => {
                let ext = self.extension(urn)?;
                ext.attribute(name).map(|a| Located { schema: Some(ext), in_extension: true, attribute: a })
            }
        }
    }

    /// The ResourceType representation served at `/ResourceTypes/{name}`.
    pub fn resource_type_json(&self, location: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.core.description,
            "schema": self.core.id,
            "schemaExtensions": self.extensions.iter().map(|(s, required)| json!({
                "schema": s.id,
                "required": required,
            })).collect::<Vec<_>>(),
            "meta": { "resourceType": "ResourceType", "location": location },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_schema_has_every_rfc_attribute() {
        let user = user_schema();
        for name in [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(user.attribute(name).is_some(), "{name}");
        }
        let password = user.attribute("PASSWORD").unwrap();
        assert_eq!((password.mutability, password.returned), (Mutability::WriteOnly, Returned::Never));
        let user_name = user.attribute("username").unwrap();
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        assert_eq!(user.attribute("groups").unwrap().mutability, Mutability::ReadOnly);
        assert!(user.attribute("emails").unwrap().sub("TYPE").unwrap().canonical_values.contains(&"work".to_string()));
    }

    #[test]
    fn lookups_cover_common_core_and_extension_attributes() {
        let rs = ResourceSchema::user();
        assert_eq!(rs.find(None, "ID").unwrap().attribute.returned, Returned::Always);
        assert_eq!(rs.find(None, "externalid").unwrap().attribute.name, "externalId");
        assert_eq!(rs.find(Some(USER_URN), "userName").unwrap().attribute.name, "userName");
        let dept = rs.find(Some("URN:ietf:params:scim:schemas:extension:enterprise:2.0:user"), "DEPARTMENT").unwrap();
        assert!(dept.in_extension);
        assert_eq!(dept.attribute.name, "department");
        assert!(rs.find(None, "department").is_none(), "extension attributes need their URN");
        assert!(rs.find(Some("urn:nope"), "x").is_none());
    }

    #[test]
    fn schema_json_has_the_rfc_characteristics() {
        let v = group_schema().to_json("/Schemas/x");
        let members = &v["attributes"][1];
        assert_eq!(members["name"], "members");
        assert_eq!(members["multiValued"], true);
        assert_eq!(members["subAttributes"][0]["mutability"], "immutable");
        assert_eq!(members["subAttributes"][1]["referenceTypes"], json!(["User", "Group"]));
        let rt = ResourceSchema::user().resource_type_json("/ResourceTypes/User");
        assert_eq!(rt["schemaExtensions"][0]["schema"], ENTERPRISE_USER_URN);
    }
}
