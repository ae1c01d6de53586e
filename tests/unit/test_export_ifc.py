"""IFC 4.3 export: ifcopenshell's validator (schema and where rules), its geometry iterator, one
product per labelled element holding exactly that element's faces, classes, property sets and
materials read back, and the map conversion that puts the model back at its survey coordinates.

The model: a block in the example layers' platform, two cylinders in its columns, a slab in its
roof, a box in its altar, and a cube outside every element (its corner is the known corner of
the placement test) with a sliver beside it (three corners on a line, once rounded to the
file's micrometre), local coordinates about a UTM origin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.export.ifc import PART, UNLABELLED, face_groups, ifc_class, local_face_set, write_ifc
from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.models.scan import CRSInfo
from twin.ops.labelling import compile_layers, label_faces

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "layers" / "example.yaml"
SAMPLE = REPO / "sample_scans" / "pavilion" / "layers.yaml"
ORIGIN = np.array([749000.0, 1821000.0, 4.0])
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648)
CUBE = ((749040.0, 1821040.0, 0.0), (749040.5, 1821040.5, 0.5))  # outside every element
SLIVER = [(749041.0, 1821040.0, 1.0), (749041.5, 1821040.0, 1.0), (749041.25, 1821040.0000003, 1.0)]  # outside too
COLUMN_NE = (749027.0, 1821029.0)  # its cylinder's bottom centre is a mesh vertex at z = 6
BOXES = {"platform": ((749011.0, 1821021.0, 5.1), (749016.0, 1821022.0, 5.5)),
         "roof": ((749012.0, 1821022.0, 11.0), (749028.0, 1821030.0, 12.0)),
         "altar": ((749019.0, 1821025.0, 5.7), (749021.0, 1821026.0, 6.8)), "outside": CUBE}


def _mesh(origin: np.ndarray = ORIGIN, parts: tuple[str, ...] = tuple(BOXES)) -> TriMesh:
    import trimesh

    meshes = [trimesh.creation.box(bounds=BOXES[name]) for name in parts]
    for x, y in (COLUMN_NE, (749013.0, 1821023.0)):
        meshes.append(trimesh.creation.cylinder(radius=0.15, height=4.0, sections=16).apply_translation((x, y, 8.0)))
    mesh = trimesh.util.concatenate(meshes)
    vertices = np.vstack([mesh.vertices, SLIVER])
    faces = np.vstack([mesh.faces, [len(mesh.vertices) + np.arange(3)]])
    return TriMesh(vertices - origin, faces, origin)


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


@pytest.fixture(scope="module")
def model(layers):
    mesh = _mesh()
    return mesh, label_faces(compile_layers(layers), mesh)


@pytest.fixture(scope="module")
def written(tmp_path_factory, layers, model):
    mesh, faces = model
    path = tmp_path_factory.mktemp("ifc") / "pavilion-2024-fine.ifc"
    result = write_ifc(path, mesh, faces, layers, crs=CRS, structure_id="pavilion", structure_name="Test pavilion",
                       level="fine", about={"Survey": "2024"})
    return path, result


def open_ifc(path: Path):
    import ifcopenshell

    return ifcopenshell.open(str(path))


def validation_errors(path: Path) -> list[dict]:
    """What ifcopenshell's validator reports at error level, schema and where rules."""
    import ifcopenshell.validate

    logger = ifcopenshell.validate.json_logger()
    ifcopenshell.validate.validate(str(path), logger, express_rules=True)
    return [s for s in logger.statements if s.get("level") == "error"]


def iterated_shapes(f) -> dict[str, np.ndarray]:
    """Each product's triangles (n, 3, 3) as ifcopenshell's geometry iterator produces them, in
    the file's engineering coordinates, by GlobalId."""
    import ifcopenshell.geom

    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    iterator = ifcopenshell.geom.iterator(settings, f)
    out = {}
    assert iterator.initialize()
    while True:
        shape = iterator.get()
        verts = np.asarray(shape.geometry.verts, dtype=np.float64).reshape(-1, 3)
        out[shape.guid] = verts[np.asarray(shape.geometry.faces, dtype=np.int64).reshape(-1, 3)]
        if not iterator.next():
            return out


def to_map(f, xyz: np.ndarray) -> np.ndarray:
    """Engineering coordinates through the file's IfcMapConversion (ifcopenshell's own formula)."""
    import ifcopenshell.util.geolocation

    return np.array([ifcopenshell.util.geolocation.auto_xyz2enh(f, *p) for p in np.asarray(xyz, dtype=np.float64)])


def slivers(mesh: TriMesh, precision: float = 1e-6) -> int:
    """How many faces are narrower than ``precision`` (height over the longest edge), corners
    rounded to it as the file holds them: what the geometry iterator leaves out."""
    corners = np.round(mesh.vertices, 6)[mesh.faces]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)
    twice_area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    return int(np.count_nonzero(twice_area < precision * edges.max(axis=1)))


def placement_error(f, mesh: TriMesh) -> float:
    """The farthest any iterated vertex, placed through the map conversion, lies from the
    nearest vertex of ``mesh`` in the CRS (metres)."""
    from scipy.spatial import cKDTree

    local = np.concatenate([t.reshape(-1, 3) for t in iterated_shapes(f).values()])
    local = np.unique(np.round(local, 6), axis=0)
    distance, _ = cKDTree(mesh.world_vertices).query(to_map(f, local))
    return float(distance.max())


def by_tag(f) -> dict[str, object]:
    return {p.Tag: p for p in f.by_type("IfcElement") if p.Tag}


def psets(product) -> dict:
    import ifcopenshell.util.element

    return ifcopenshell.util.element.get_psets(product)


# -- the file -------------------------------------------------------------------------------------


def test_the_file_passes_the_validator_with_where_rules(written):
    path, _ = written
    assert validation_errors(path) == []


def test_the_validator_catches_a_broken_rule_in_this_kind_of_file(written, tmp_path):
    """The check above can fail: a map unit that is no length breaks IfcProjectedCRS's where rule."""
    f = open_ifc(written[0])
    f.by_type("IfcProjectedCRS")[0].MapUnit = next(u for u in f.by_type("IfcSIUnit") if u.UnitType == "AREAUNIT")
    f.write(str(tmp_path / "broken.ifc"))
    errors = validation_errors(tmp_path / "broken.ifc")
    assert [e["attribute"] for e in errors] == ["IfcProjectedCRS.MapUnitIsLength"]


def test_spatial_tree_units_and_header(written):
    f = open_ifc(written[0])
    assert f.schema_identifier == "IFC4X3_ADD2"
    (project,) = f.by_type("IfcProject")
    (site,) = f.by_type("IfcSite")
    (building,) = f.by_type("IfcBuilding")
    (storey,) = f.by_type("IfcBuildingStorey")
    assert project.Name == "pavilion" and project.LongName == "Test pavilion, layers"
    assert [u.Name for u in project.UnitsInContext.Units if u.UnitType == "LENGTHUNIT"] == ["METRE"]
    assert site.Decomposes[0].RelatingObject == project and building.Decomposes[0].RelatingObject == site
    assert building.Name == "pavilion" and building.LongName == "Test pavilion"
    assert storey.Decomposes[0].RelatingObject == building
    contained = {p.id() for rel in storey.ContainsElements for p in rel.RelatedElements}
    assert contained == {p.id() for p in f.by_type("IfcElement")}
    documentation = psets(project)["Twin_Documentation"]
    assert documentation["Rights"] == "© Hue Monuments Conservation Centre" and documentation["Survey"] == "2024"
    assert documentation["Level"] == "fine" and documentation["Creator"] == ["Hue Monuments Conservation Centre"]
    assert "twin" in f.header.file_name.originating_system


def test_one_product_per_labelled_element_and_every_face_accounted_for(written, model, layers):
    mesh, faces = model
    f = open_ifc(written[0])
    products = f.by_type("IfcElement")
    labelled = sorted({layers.elements[i].id for i in np.unique(faces) if i >= 0})
    assert sorted(by_tag(f)) == labelled == ["altar", "column-ne", "column-sw", "platform", "roof"]
    (proxy,) = [p for p in products if p.is_a("IfcBuildingElementProxy")]
    assert proxy.Name == UNLABELLED and len(products) == len(labelled) + 1
    triangles = {p.GlobalId: len(p.Representation.Representations[0].Items[0].CoordIndex) for p in products}
    assert sum(triangles.values()) == mesh.n_faces
    counts = np.bincount(faces + 1, minlength=len(layers.elements) + 1)
    for tag, product in by_tag(f).items():
        assert triangles[product.GlobalId] == counts[[e.id for e in layers.elements].index(tag) + 1], tag
        assert psets(product)["Twin_Heritage"]["FaceCount"] == triangles[product.GlobalId]
    assert triangles[proxy.GlobalId] == counts[0] == 13  # the cube outside and the sliver
    assert written[1].faces[UNLABELLED] == 13 and written[1].without_faces == []


def test_the_geometry_iterator_produces_every_product_with_all_its_triangles(written, model):
    mesh, _ = model
    f = open_ifc(written[0])
    shapes = iterated_shapes(f)
    assert set(shapes) == {p.GlobalId for p in f.by_type("IfcElement")}
    assert sum(len(t) for t in shapes.values()) == mesh.n_faces - 1 and slivers(mesh) == 1  # it leaves out the sliver


def test_vertices_are_local_and_round_to_a_micrometre(written):
    f = open_ifc(written[0])
    coords = np.concatenate([np.asarray(p.CoordList) for p in f.by_type("IfcCartesianPointList3D")])
    assert np.abs(coords).max() < 100  # metres from the origin, not UTM numbers
    assert np.allclose(coords, np.round(coords, 6), atol=1e-12)
    assert f.by_type("IfcGeometricRepresentationContext")[0].Precision == 1e-6


# -- classes, properties, materials, groups -------------------------------------------------------


def test_classes_phases_materials_and_knowledge_read_back(written):
    import ifcopenshell.util.element

    f = open_ifc(written[0])  # kept: its instances live only as long as the file
    tags = by_tag(f)
    assert {t: p.is_a() for t, p in tags.items()} == {"platform": "IfcSlab", "column-ne": "IfcColumn",
                                                     "column-sw": "IfcColumn", "roof": "IfcRoof", "altar": PART}
    column = psets(tags["column-ne"])
    heritage = column["Twin_Heritage"]
    assert heritage["Phases"] == ["reconstruction-1833", "construction-1805"]  # own, then its group's
    assert heritage["PhaseDates"] == ["1833~", "1805"] and heritage["PrimaryPhase"] == "reconstruction-1833"
    assert heritage["PrimaryPhaseEarliest"] == "1833-01-01" and heritage["PrimaryPhaseLatest"] == "1833-12-31"
    assert heritage["Materials"] == ["ironwood"] and heritage["MaterialAAT"] == ["http://vocab.getty.edu/aat/300011914"]
    assert heritage["KnowledgeStatus"] == "measured" and heritage["Groups"] == ["columns"]
    assert heritage["CrmClass"] == "B5_Stratigraphic_Building_Unit" and heritage["Stable"] is True
    assert heritage["License"] == "https://creativecommons.org/licenses/by/4.0/"
    assert column["Pset_ColumnCommon"]["Reference"] == "column-ne" and column["Pset_ColumnCommon"]["Status"] == ["EXISTING"]
    material = ifcopenshell.util.element.get_material(tags["column-ne"])
    assert material.is_a("IfcMaterial") and material.Name == "ironwood (lim)"
    assert psets(material)["Twin_Material"] | {"id": 0} == {
        "MaterialId": "ironwood", "AAT": "http://vocab.getty.edu/aat/300011914", "AATId": "300011914",
        "species": "Erythrophleum fordii", "id": 0}
    roof = ifcopenshell.util.element.get_material(tags["roof"])
    assert roof.is_a("IfcMaterialConstituentSet")
    assert [(c.Name, c.Material.Name) for c in roof.MaterialConstituents] == [("tile", "glazed roof tile"),
                                                                              ("ironwood", "ironwood (lim)")]
    altar = psets(tags["altar"])["Twin_Heritage"]
    assert altar["KnowledgeStatus"] == "hypothetical" and altar["KnowledgeSources"] == ["oral history 2023"]
    assert altar["KnowledgeNote"] == "lost; position after a 1925 photograph"
    assert psets(tags["roof"])["Twin_Heritage"]["Stable"] is False


def test_unions_are_groups_of_their_members(written):
    f = open_ifc(written[0])
    (group,) = f.by_type("IfcGroup")
    assert group.Name == "columns" and group.Description == "Columns"
    members = {o.Tag for rel in group.IsGroupedBy for o in rel.RelatedObjects}
    assert members == {"column-ne", "column-sw"}
    assert psets(group)["Twin_Heritage"]["Members"] == ["column-ne", "column-sw"]


def test_ifc_class_from_the_sample_ids_and_names():
    sample = load_layers(SAMPLE)
    classes = {e.id: ifc_class(e.id, e.name) for e in sample.elements}
    assert {classes[i] for i in classes if i.startswith("column-")} == {"IfcColumn"}
    assert {i: classes[i] for i in ("wall-south", "wall-west", "door", "frame", "roof-upper", "steps-south",
                                    "platform", "courtyard", "stele", "urn", "planter-3", "annex")} == {
        "wall-south": "IfcWall", "wall-west": "IfcWall", "door": "IfcDoor", "frame": "IfcBeam",
        "roof-upper": "IfcRoof", "steps-south": "IfcStair", "platform": "IfcSlab", "courtyard": "IfcSlab",
        "stele": PART, "urn": PART, "planter-3": PART, "annex": PART}
    assert ifc_class("column-07", "") == "IfcColumn" and ifc_class("e1", "North windows") == "IfcWindow"


# -- georeferencing ---------------------------------------------------------------------------------


def test_the_map_conversion_is_the_model_origin_in_the_survey_crs(written):
    f = open_ifc(written[0])
    (conversion,) = f.by_type("IfcMapConversion")
    assert conversion.TargetCRS.Name == "EPSG:32648" and conversion.TargetCRS.MapZone == "48N"
    assert conversion.TargetCRS.MapUnit.Name == "METRE"
    assert conversion.SourceCRS.ContextType == "Model"
    assert abs(conversion.Eastings - ORIGIN[0]) < 1e-3 and abs(conversion.Northings - ORIGIN[1]) < 1e-3
    assert abs(conversion.OrthogonalHeight - ORIGIN[2]) < 1e-3
    (site,) = f.by_type("IfcSite")
    assert site.RefLatitude[0] == 16 and site.RefLongitude[0] == 107  # Hue


def test_a_known_corner_lands_on_its_survey_coordinates(written, model):
    f = open_ifc(written[0])
    shapes = iterated_shapes(f)
    (proxy,) = f.by_type("IfcBuildingElementProxy")
    corner = to_map(f, shapes[proxy.GlobalId].reshape(-1, 3))
    assert np.linalg.norm(corner - CUBE[0], axis=1).min() < 1e-3
    column = to_map(f, shapes[by_tag(f)["column-ne"].GlobalId].reshape(-1, 3))
    assert np.linalg.norm(column - [*COLUMN_NE, 6.0], axis=1).min() < 1e-3
    assert placement_error(f, model[0]) < 1e-3


def test_the_placement_check_fails_for_a_moved_origin(written, model):
    mesh, _ = model
    moved = TriMesh(mesh.vertices, mesh.faces, mesh.origin + [0.002, 0.0, 0.0])
    assert placement_error(open_ifc(written[0]), moved) > 1e-3


def test_without_a_crs_the_file_is_in_the_model_frame_with_a_warning(tmp_path, layers, model):
    mesh, faces = model
    result = write_ifc(tmp_path / "x.ifc", mesh, faces, layers, structure_id="pavilion")
    assert len(result.warnings) == 1 and "no coordinate system" in result.warnings[0]
    f = open_ifc(result.path)
    assert not f.by_type("IfcMapConversion") and not f.by_type("IfcProjectedCRS")
    assert tuple(f.by_type("IfcSite")[0].ObjectPlacement.RelativePlacement.Location.Coordinates) == tuple(ORIGIN)
    proxy = f.by_type("IfcBuildingElementProxy")[0]
    corner = iterated_shapes(f)[proxy.GlobalId].reshape(-1, 3)  # world: the site's placement applied
    assert np.linalg.norm(corner - CUBE[0], axis=1).min() < 1e-3
    assert validation_errors(result.path) == []


@pytest.mark.parametrize(("crs", "name", "vertical", "warned"), [
    (CRSInfo(epsg=32648), "EPSG:32648", None, False),
    (CRSInfo(name="UTM 48N + EGM96", wkt="EPSG:32648+5773"), "EPSG:32648", "EGM96 height", False),
    (CRSInfo(epsg=4326), None, None, True),
])
def test_compound_and_geographic_crs(tmp_path, layers, model, crs, name, vertical, warned):
    mesh, faces = model
    result = write_ifc(tmp_path / "x.ifc", mesh, faces, layers, crs=crs, structure_id="pavilion")
    projected = open_ifc(result.path).by_type("IfcProjectedCRS")
    assert bool(result.warnings) == warned
    if warned:
        assert "not projected" in result.warnings[0] and not projected
    else:
        assert projected[0].Name == name and projected[0].VerticalDatum == vertical


# -- pure parts and bad input ----------------------------------------------------------------------


def test_face_groups_and_local_face_sets():
    groups = face_groups(np.array([2, -1, 0, 2, 0, -1]))
    assert [(label, list(index)) for label, index in groups] == [(-1, [1, 5]), (0, [2, 4]), (2, [0, 3])]
    vertices = np.arange(30, dtype=float).reshape(10, 3) + 1e-7
    coords, index = local_face_set(vertices, np.array([[7, 3, 9], [9, 3, 5]]))
    assert np.array_equal(coords, np.round(vertices[[3, 5, 7, 9]], 6)) and index.tolist() == [[3, 1, 4], [4, 1, 2]]


def test_an_element_without_faces_is_named_in_a_warning(tmp_path, layers):
    mesh = _mesh(parts=("platform", "roof", "outside"))
    result = write_ifc(tmp_path / "x.ifc", mesh, label_faces(compile_layers(layers), mesh), layers, crs=CRS,
                       structure_id="pavilion", level="coarse")
    assert result.without_faces == ["altar"]
    assert result.warnings == ["1 element(s) have no face at level coarse and are not in the IFC: altar"]
    assert "altar" not in by_tag(open_ifc(result.path))


@pytest.mark.parametrize(("faces", "message"), [(np.zeros(3, dtype=int), "face labels for"),
                                                 (None, "out of the layers' range")])
def test_bad_labels_are_refused_and_nothing_is_written(tmp_path, layers, model, faces, message):
    mesh, good = model
    faces = np.full_like(good, 99) if faces is None else faces
    with pytest.raises(ValueError, match=message):
        write_ifc(tmp_path / "x.ifc", mesh, faces, layers, crs=CRS, structure_id="pavilion")
    assert list(tmp_path.iterdir()) == []
