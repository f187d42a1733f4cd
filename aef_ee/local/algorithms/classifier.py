"""Supervised classifiers (``ee.Classifier``) backed by scikit-learn.

A :class:`Classifier` is a value: an algorithm name with its parameters, an output mode and, once trained, the
training table. The scikit-learn model is fitted on first use for the output mode's kind (a classifier for
CLASSIFICATION / PROBABILITY / MULTIPROBABILITY / RAW, a regressor for REGRESSION / RAW_REGRESSION) and kept in a
small cache keyed by the training data, so one request (and every map tile of the same expression) fits it once.

Where scikit-learn's algorithm differs from Earth Engine's Smile / Weka / libsvm one, ``docs/classifiers.md`` says
how.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from aef_ee.local.algorithms.confusion import ConfusionMatrix, confusion_from_labels
from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.model_value import ModelValue
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.algorithms.training_table import (
    FitCache,
    default_inputs,
    digest,
    feature_table,
    model_image,
    predict_features,
    subsample,
    training_features,
)
from aef_ee.local.errors import InvalidArgument, Unimplemented
from aef_ee.local.raster import Image, PixelType
from aef_ee.local.values import FeatureCollection

__all__ = ["Classifier", "TrainingData", "OUTPUT_MODES"]

OUTPUT_MODES = ("CLASSIFICATION", "REGRESSION", "PROBABILITY", "MULTIPROBABILITY", "RAW", "RAW_REGRESSION")
_REGRESSION_MODES = ("REGRESSION", "RAW_REGRESSION")
_FITS = FitCache()


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingData:
    """The training table: inputs x (n, d) float64 in ``names`` order and the class property's values y (n,)."""

    x: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    class_property: str

    @functools.cached_property
    def key(self) -> str:
        return digest(self.x, self.y, extra=(self.names, self.class_property))


@dataclasses.dataclass(frozen=True, eq=False)
class Classifier(ModelValue[TrainingData]):
    """An Earth Engine classifier value (untrained when ``training`` is None) with its output mode."""

    KIND: ClassVar[str] = "Classifier"

    mode: str = "CLASSIFICATION"

    def to_info(self) -> dict[str, Any]:
        info = super().to_info()
        info["mode"] = self.mode
        if self.training is not None:
            info["classProperty"] = self.training.class_property
        return info

    # --- fitting -----------------------------------------------------------------------------------------
    def kind(self) -> str:
        return "regression" if self.mode in _REGRESSION_MODES else "classification"

    def model(self, where: str) -> Any:
        """The fitted scikit-learn model for this output mode (fitted once per training data and settings)."""
        training = self.require_training(where)
        kind = self.kind()
        probability = self.mode in ("PROBABILITY", "MULTIPROBABILITY")
        return _FITS.get(self.fit_key(kind, probability), lambda: _fit(self, training, kind, probability, where))

    # --- prediction --------------------------------------------------------------------------------------
    def output(self, where: str) -> tuple[Callable[[np.ndarray], np.ndarray], PixelType, int | None]:
        """(predict: X (n, d) -> (n,) or (n, k), the output pixel type, k or None for scalar outputs)."""
        model = self.model(where)
        training = self.require_training(where)
        spec = _SPECS[self.name]
        mode = self.mode
        if mode == "CLASSIFICATION" and _is_one_class(self):
            return (lambda x: _predict_class(self, model, x)), PixelType("int", 0, 1), None
        if mode == "CLASSIFICATION":
            classes = np.unique(training.y)
            ptype = PixelType("int", int(classes.min()), int(classes.max()))
            return (lambda x: _predict_class(self, model, x)), ptype, None
        if mode == "REGRESSION":
            return (lambda x: _predict_regression(self, model, x)), PixelType("double"), None
        if mode == "PROBABILITY":
            return (lambda x: _probability(self, model, x)), PixelType("double"), None
        if mode == "MULTIPROBABILITY":
            k = len(model.classes_)
            return (lambda x: _probabilities(self, model, x)), PixelType("double"), k
        if mode in ("RAW", "RAW_REGRESSION") and spec.raw is not None:
            k = spec.raw_length(model)
            return (lambda x: spec.raw(self, model, x)), PixelType("double"), k
        raise Unimplemented(f"{where}: output mode {mode} is not supported for {self.short_name} by the local engine.")


# --- per-algorithm specs ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Spec:
    """How to build one Earth Engine classifier with scikit-learn."""

    build: Callable[[dict[str, Any], str, bool, TrainingData], Any]
    modes: tuple[str, ...]
    raw: Callable[[Classifier, Any, np.ndarray], np.ndarray] | None = None
    raw_length: Callable[[Any], int] = lambda model: 0


_SPECS: dict[str, _Spec] = {}


def _int_or_none(value: Any, name: str, where: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if int(value) != value or int(value) < minimum:
        raise InvalidArgument(f"{where}: {name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _build_knn(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    where = "Classifier.smileKNN"
    k = _int_or_none(options.get("k", 1), "k", where)
    search = str(options.get("searchMethod") or "AUTO").upper()
    algorithms = {"AUTO": "auto", "LINEAR_SEARCH": "brute", "KD_TREE": "kd_tree", "COVER_TREE": "ball_tree"}
    if search not in algorithms:
        raise InvalidArgument(f"{where}: unknown searchMethod '{search}'; expected one of {sorted(algorithms)}.")
    metric = str(options.get("metric") or "EUCLIDEAN").upper()
    metrics = {"EUCLIDEAN": "euclidean", "MANHATTAN": "manhattan", "BRAYCURTIS": "braycurtis",
               "MAHALANOBIS": "mahalanobis"}
    if metric not in metrics:
        raise InvalidArgument(f"{where}: unknown metric '{metric}'; expected one of {sorted(metrics)}.")
    if k > len(training.y):
        raise InvalidArgument(f"{where}: k={k} is larger than the number of training samples ({len(training.y)}).")
    kwargs: dict[str, Any] = {"n_neighbors": k, "algorithm": algorithms[search], "metric": metrics[metric]}
    if metric == "MAHALANOBIS":
        cov = np.atleast_2d(np.cov(training.x, rowvar=False))
        kwargs.update(algorithm="brute", metric_params={"VI": np.linalg.pinv(cov)})
    elif metric == "BRAYCURTIS" and kwargs["algorithm"] == "kd_tree":
        kwargs["algorithm"] = "ball_tree"  # kd-trees support only Minkowski metrics
    return (KNeighborsRegressor if kind == "regression" else KNeighborsClassifier)(**kwargs)


def _build_random_forest(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    where = "Classifier.smileRandomForest"
    trees = _int_or_none(options.get("numberOfTrees"), "numberOfTrees", where)
    if trees is None:
        raise InvalidArgument(f"{where}: numberOfTrees is required.")
    d = training.x.shape[1]
    per_split = _int_or_none(options.get("variablesPerSplit"), "variablesPerSplit", where)
    if per_split is None:  # Smile's defaults: sqrt(d) for classification, d / 3 for regression
        per_split = max(1, int(np.sqrt(d))) if kind == "classification" else max(1, d // 3)
    bag = float(options.get("bagFraction", 0.5) if options.get("bagFraction") is not None else 0.5)
    if not 0 < bag <= 1:
        raise InvalidArgument(f"{where}: bagFraction must be in (0, 1]; got {bag!r}.")
    kwargs = {
        "n_estimators": trees,
        "max_features": min(per_split, d),
        "min_samples_leaf": _int_or_none(options.get("minLeafPopulation", 1) or 1, "minLeafPopulation", where),
        "max_leaf_nodes": _int_or_none(options.get("maxNodes"), "maxNodes", where, minimum=2),
        "bootstrap": True,
        "max_samples": bag if bag < 1 else None,
        "oob_score": True,
        "random_state": int(options.get("seed") or 0),
        "n_jobs": 1,
    }
    return (RandomForestRegressor if kind == "regression" else RandomForestClassifier)(**kwargs)


def _build_cart(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    where = "Classifier.smileCart"
    kwargs = {
        "max_leaf_nodes": _int_or_none(options.get("maxNodes"), "maxNodes", where, minimum=2),
        "max_depth": _int_or_none(options.get("maxDepth"), "maxDepth", where),  # the deprecated cart's option
        "min_samples_leaf": _int_or_none(options.get("minLeafPopulation", 1) or 1, "minLeafPopulation", where),
        "random_state": 0,
    }
    return (DecisionTreeRegressor if kind == "regression" else DecisionTreeClassifier)(**kwargs)


_GTB_LOSSES = {"LeastSquares": "squared_error", "LeastAbsoluteDeviation": "absolute_error", "Huber": "huber"}


def _build_gradient_tree_boost(options: dict[str, Any], kind: str, probability: bool,
                               training: TrainingData) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    where = "Classifier.smileGradientTreeBoost"
    trees = _int_or_none(options.get("numberOfTrees"), "numberOfTrees", where)
    if trees is None:
        raise InvalidArgument(f"{where}: numberOfTrees is required.")
    shrinkage = float(options.get("shrinkage") if options.get("shrinkage") is not None else 0.005)
    sampling = float(options.get("samplingRate") if options.get("samplingRate") is not None else 0.7)
    if not 0 < sampling <= 1:
        raise InvalidArgument(f"{where}: samplingRate must be in (0, 1]; got {sampling!r}.")
    kwargs: dict[str, Any] = {
        "n_estimators": trees,
        "learning_rate": shrinkage,
        "subsample": sampling,
        "random_state": int(options.get("seed") or 0),
    }
    max_nodes = _int_or_none(options.get("maxNodes"), "maxNodes", where, minimum=2)
    if max_nodes is not None:
        kwargs.update(max_leaf_nodes=max_nodes, max_depth=None)
    if kind == "regression":
        loss = str(options.get("loss") or "LeastAbsoluteDeviation")
        if loss not in _GTB_LOSSES:
            raise InvalidArgument(f"{where}: unknown loss '{loss}'; expected one of {sorted(_GTB_LOSSES)}.")
        return GradientBoostingRegressor(loss=_GTB_LOSSES[loss], **kwargs)
    return GradientBoostingClassifier(**kwargs)


_SVM_TYPES = ("C_SVC", "NU_SVC", "ONE_CLASS", "EPSILON_SVR", "NU_SVR")
_KERNELS = {"LINEAR": "linear", "POLY": "poly", "RBF": "rbf", "SIGMOID": "sigmoid"}


def _build_libsvm(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    from sklearn import svm

    where = "Classifier.libsvm"
    svm_type = str(options.get("svmType") or "C_SVC").upper()
    if svm_type not in _SVM_TYPES:
        raise InvalidArgument(f"{where}: unknown svmType '{svm_type}'; expected one of {list(_SVM_TYPES)}.")
    kernel = str(options.get("kernelType") or "LINEAR").upper()
    if kernel not in _KERNELS:
        raise InvalidArgument(f"{where}: unknown kernelType '{kernel}'; expected one of {sorted(_KERNELS)}.")
    procedure = str(options.get("decisionProcedure") or "Voting")
    if procedure not in ("Voting", "Margin"):
        raise InvalidArgument(f"{where}: unknown decisionProcedure '{procedure}'; expected 'Voting' or 'Margin'.")

    def opt(name: str, default: Any) -> Any:
        value = options.get(name)
        return default if value is None else value

    common: dict[str, Any] = {
        "kernel": _KERNELS[kernel],
        "degree": int(opt("degree", 3)),
        # libsvm's default gamma is 1 / number of features, scikit-learn's 'auto'.
        "gamma": float(options["gamma"]) if options.get("gamma") is not None else "auto",
        "coef0": float(opt("coef0", 0.0)),
        "shrinking": bool(opt("shrinking", True)),
        "tol": float(opt("terminationEpsilon", 0.001)),
    }
    regression_type = svm_type in ("EPSILON_SVR", "NU_SVR")
    if kind == "regression" and not regression_type:
        raise Unimplemented(f"{where}: REGRESSION output needs svmType EPSILON_SVR or NU_SVR; got {svm_type}.")
    if kind == "classification" and regression_type:
        raise InvalidArgument(f"{where}: svmType {svm_type} is a regression; use setOutputMode('REGRESSION').")
    if svm_type in ("C_SVC", "NU_SVC"):
        model = svm.SVC(C=float(opt("cost", 1.0)), decision_function_shape="ovr", **common) if svm_type == "C_SVC" \
            else svm.NuSVC(nu=float(opt("nu", 0.5)), decision_function_shape="ovr", **common)
        if probability:
            from sklearn.calibration import CalibratedClassifierCV

            # libsvm's probability estimates are Platt scaling fitted by internal cross-validation; this is the
            # same method, as scikit-learn now recommends it.
            smallest = int(np.unique(training.y, return_counts=True)[1].min())
            if smallest < 2:
                raise InvalidArgument(f"{where}: probability outputs need at least 2 training features per class.")
            return CalibratedClassifierCV(model, method="sigmoid", ensemble=False, cv=min(5, smallest))
        return model
    if svm_type == "ONE_CLASS":
        return svm.OneClassSVM(nu=float(opt("nu", 0.5)), **common)
    if svm_type == "EPSILON_SVR":
        return svm.SVR(C=float(opt("cost", 1.0)), epsilon=float(opt("lossEpsilon", 0.1)), **common)
    return svm.NuSVR(C=float(opt("cost", 1.0)), nu=float(opt("nu", 0.5)), **common)


def _build_naive_bayes(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    from sklearn.naive_bayes import MultinomialNB

    smoothing = float(options.get("lambda") if options.get("lambda") is not None else 1e-6)
    if smoothing <= 0:
        raise InvalidArgument(f"Classifier.smileNaiveBayes: lambda must be positive; got {smoothing!r}.")
    return MultinomialNB(alpha=smoothing, force_alpha=True)


class MinimumDistance:
    """Nearest class mean under euclidean, manhattan, cosine (spectral angle) or per-class Mahalanobis distance.

    scikit-learn's ``NearestCentroid`` covers euclidean and manhattan only; this small model adds the two others
    with the same fit / predict / classes_ surface.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def fit(self, x: np.ndarray, y: np.ndarray) -> "MinimumDistance":
        self.classes_ = np.unique(y)
        self.means_ = np.stack([x[y == c].mean(axis=0) for c in self.classes_])
        if self.metric == "mahalanobis":
            inverses = []
            for c in self.classes_:
                rows = x[y == c]
                cov = np.atleast_2d(np.cov(rows, rowvar=False)) if len(rows) > 1 else np.eye(x.shape[1])
                inverses.append(np.linalg.pinv(cov))
            self.inverse_covariances_ = np.stack(inverses)
        return self

    def distances(self, x: np.ndarray) -> np.ndarray:
        """(n, n_classes) distances to every class mean."""
        diff = x[:, None, :] - self.means_[None, :, :]
        if self.metric == "euclidean":
            return np.sqrt((diff**2).sum(axis=2))
        if self.metric == "manhattan":
            return np.abs(diff).sum(axis=2)
        if self.metric == "cosine":
            dot = x @ self.means_.T
            norms = np.linalg.norm(x, axis=1)[:, None] * np.linalg.norm(self.means_, axis=1)[None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                cosine = np.where(norms > 0, dot / np.where(norms > 0, norms, 1), 1.0)
            return np.arccos(np.clip(cosine, -1.0, 1.0))
        quad = np.einsum("nci,cij,ncj->nc", diff, self.inverse_covariances_, diff)
        return np.sqrt(np.maximum(quad, 0.0))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmin(self.distances(x), axis=1)]


_MIN_DISTANCE_METRICS = ("euclidean", "cosine", "mahalanobis", "manhattan")


def _build_minimum_distance(options: dict[str, Any], kind: str, probability: bool, training: TrainingData) -> Any:
    metric = str(options.get("metric") or "euclidean").lower()
    if metric not in _MIN_DISTANCE_METRICS:
        raise InvalidArgument(
            f"Classifier.minimumDistance: unknown metric '{metric}'; expected one of {list(_MIN_DISTANCE_METRICS)}.")
    if options.get("kNearest") not in (None, 1):
        raise Unimplemented("Classifier.minimumDistance: kNearest > 1 is not supported by the local engine.")
    return MinimumDistance(metric)


def _forest_raw(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    """Each tree's prediction (class value, or regression value), (n, n_trees)."""
    votes = np.stack([tree.predict(x) for tree in model.estimators_], axis=1)
    if classifier.kind() == "classification":
        return model.classes_[votes.astype(np.intp)].astype(np.float64)
    return votes


def _min_distance_raw(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    return model.distances(x)


_ALL = OUTPUT_MODES
_SPECS.update({
    "Classifier.smileKNN": _Spec(_build_knn, ("CLASSIFICATION", "REGRESSION", "PROBABILITY", "MULTIPROBABILITY")),
    "Classifier.smileRandomForest": _Spec(_build_random_forest, _ALL, _forest_raw,
                                          lambda model: len(model.estimators_)),
    "Classifier.smileCart": _Spec(_build_cart, ("CLASSIFICATION", "REGRESSION", "PROBABILITY", "MULTIPROBABILITY")),
    "Classifier.smileGradientTreeBoost": _Spec(_build_gradient_tree_boost,
                                               ("CLASSIFICATION", "REGRESSION", "PROBABILITY", "MULTIPROBABILITY")),
    "Classifier.libsvm": _Spec(_build_libsvm, ("CLASSIFICATION", "REGRESSION", "PROBABILITY", "MULTIPROBABILITY")),
    "Classifier.minimumDistance": _Spec(_build_minimum_distance, ("CLASSIFICATION", "REGRESSION", "RAW"),
                                        _min_distance_raw, lambda model: len(model.classes_)),
    "Classifier.smileNaiveBayes": _Spec(_build_naive_bayes, ("CLASSIFICATION", "PROBABILITY", "MULTIPROBABILITY")),
})


# --- fitting and predicting ------------------------------------------------------------------------------

def _class_labels(y: np.ndarray, where: str) -> np.ndarray:
    if not np.all(y == np.round(y)):
        bad = y[y != np.round(y)][0]
        raise InvalidArgument(
            f"{where}: class property values must be integers for classification; got {bad!r}. Use "
            "setOutputMode('REGRESSION') for a continuous property.")
    return y.astype(np.int64)


def _fit(classifier: Classifier, training: TrainingData, kind: str, probability: bool, where: str) -> Any:
    from sklearn.exceptions import NotFittedError

    spec = _SPECS[classifier.name]
    if classifier.mode not in spec.modes:
        raise Unimplemented(
            f"{where}: {classifier.short_name} does not support output mode {classifier.mode} in the local engine; "
            f"supported: {list(spec.modes)}.")
    x, y = training.x, training.y
    if len(y) == 0:
        raise InvalidArgument(f"{where}: no training features with values for {list(training.names)}.")
    options = classifier.options
    model = spec.build(options, kind, probability, training)
    if kind == "classification":
        labels = _class_labels(y, where)
        if classifier.name == "Classifier.libsvm" and str(options.get("svmType") or "").upper() == "ONE_CLASS":
            one_class = int(options.get("oneClass") or 0)
            inside = labels == one_class
            if not inside.any():
                raise InvalidArgument(f"{where}: no training features of class oneClass={one_class}.")
            x, labels = x[inside], labels[inside]
        else:
            classes = np.unique(labels)
            if len(classes) < 2:
                raise InvalidArgument(
                    f"{where}: the training data has a single class ({int(classes[0])}) in "
                    f"'{training.class_property}'; a classifier needs at least two.")
        if classifier.name == "Classifier.smileNaiveBayes":
            x = np.maximum(x, 0.0)  # Smile's multinomial model discards negative inputs
        target = labels
    else:
        target = y
    try:
        with warnings.catch_warnings():
            # Out-of-bag estimates on tiny training sets leave some samples unscored; that is expected.
            warnings.simplefilter("ignore", UserWarning)
            model.fit(x, target)
    except (ValueError, NotFittedError) as exc:
        raise InvalidArgument(f"{where}: {classifier.short_name} could not be trained: {exc}") from exc
    return model


def _transform_inputs(classifier: Classifier, x: np.ndarray) -> np.ndarray:
    if classifier.name == "Classifier.smileNaiveBayes":
        return np.maximum(x, 0.0)
    return x


def _is_one_class(classifier: Classifier) -> bool:
    return classifier.name == "Classifier.libsvm" and str(classifier.options.get("svmType") or "").upper() == \
        "ONE_CLASS"


def _predict_class(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    x = _transform_inputs(classifier, x)
    if _is_one_class(classifier):
        return (model.predict(x) > 0).astype(np.int64)
    if classifier.name == "Classifier.libsvm" and classifier.options.get("decisionProcedure") == "Margin" \
            and len(model.classes_) > 2:
        return model.classes_[np.argmax(model.decision_function(x), axis=1)]
    return model.predict(x)


def _predict_regression(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    if isinstance(model, MinimumDistance):  # Earth Engine: the distance to the nearest class mean
        return model.distances(x).min(axis=1)
    return model.predict(_transform_inputs(classifier, x)).astype(np.float64)


def _probabilities(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    if not hasattr(model, "predict_proba"):
        raise Unimplemented(f"{classifier.short_name} has no class probabilities in the local engine.")
    return model.predict_proba(_transform_inputs(classifier, x))


def _probability(classifier: Classifier, model: Any, x: np.ndarray) -> np.ndarray:
    """Two classes: the probability of the larger class value (class 1); more: that of the predicted class."""
    proba = _probabilities(classifier, model, x)
    if proba.shape[1] == 2:
        return proba[:, 1]
    return proba.max(axis=1)


# --- algorithms: constructors ----------------------------------------------------------------------------

@algorithm("Classifier.smileKNN")
def smile_knn(k: int = 1, searchMethod: str = "AUTO", metric: str = "EUCLIDEAN") -> Classifier:
    return Classifier.create("Classifier.smileKNN", k=k, searchMethod=searchMethod, metric=metric)


@algorithm("Classifier.smileRandomForest")
def smile_random_forest(numberOfTrees: int, variablesPerSplit: int | None = None,
                        minLeafPopulation: int = 1, bagFraction: float = 0.5, maxNodes: int | None = None,
                        seed: int = 0) -> Classifier:
    return Classifier.create("Classifier.smileRandomForest", numberOfTrees=numberOfTrees,
                             variablesPerSplit=variablesPerSplit, minLeafPopulation=minLeafPopulation,
                             bagFraction=bagFraction, maxNodes=maxNodes, seed=seed)


@algorithm("Classifier.smileCart")
def smile_cart(maxNodes: int | None = None, minLeafPopulation: int = 1) -> Classifier:
    return Classifier.create("Classifier.smileCart", maxNodes=maxNodes, minLeafPopulation=minLeafPopulation)


@algorithm("Classifier.smileGradientTreeBoost")
def smile_gradient_tree_boost(numberOfTrees: int, shrinkage: float = 0.005, samplingRate: float = 0.7,
                              maxNodes: int | None = None, loss: str = "LeastAbsoluteDeviation",
                              seed: int = 0) -> Classifier:
    return Classifier.create("Classifier.smileGradientTreeBoost", numberOfTrees=numberOfTrees, shrinkage=shrinkage,
                             samplingRate=samplingRate, maxNodes=maxNodes, loss=loss, seed=seed)


@algorithm("Classifier.libsvm")
def libsvm(decisionProcedure: str = "Voting", svmType: str = "C_SVC", kernelType: str = "LINEAR",
           shrinking: bool = True, degree: int | None = None, gamma: float | None = None, coef0: float | None = None,
           cost: float | None = None, nu: float | None = None, terminationEpsilon: float | None = None,
           lossEpsilon: float | None = None, oneClass: int | None = None) -> Classifier:
    return Classifier.create("Classifier.libsvm", decisionProcedure=decisionProcedure, svmType=svmType,
                             kernelType=kernelType, shrinking=shrinking, degree=degree, gamma=gamma, coef0=coef0,
                             cost=cost, nu=nu, terminationEpsilon=terminationEpsilon, lossEpsilon=lossEpsilon,
                             oneClass=oneClass)


@algorithm("Classifier.minimumDistance")
def minimum_distance(metric: str = "euclidean", kNearest: int = 1) -> Classifier:
    return Classifier.create("Classifier.minimumDistance", metric=metric, kNearest=kNearest)


@algorithm("Classifier.smileNaiveBayes")
def smile_naive_bayes(**kwargs: Any) -> Classifier:
    smoothing = kwargs.pop("lambda", 1e-6)
    if kwargs:
        raise TypeError(f"smileNaiveBayes() got an unexpected keyword argument '{next(iter(kwargs))}'")
    return Classifier.create("Classifier.smileNaiveBayes", **{"lambda": smoothing})


# Earth Engine's deprecated names (Weka-era classifiers) run the corresponding Smile / libsvm implementation.

@algorithm("Classifier.randomForest")
def random_forest(numberOfTrees: int = 1, variablesPerSplit: int = 0, minLeafPopulation: int = 1,
                  bagFraction: float = 0.5, outOfBagMode: bool = False, seed: int = 0) -> Classifier:
    return smile_random_forest(numberOfTrees, variablesPerSplit or None, minLeafPopulation, bagFraction, None, seed)


@algorithm("Classifier.cart")
def cart(crossvalidationFactor: int = 10, maxDepth: int = 10, minLeafPopulation: int = 1,
         minSplitPoplulation: int = 1, minSplitCost: float = 1e-10, prune: bool = False,
         pruneErrorTolerance: float = 0.5, quantizationResolution: int = 100, quantizationMargin: float = 0.1,
         randomSeed: int = 0) -> Classifier:
    return Classifier.create("Classifier.smileCart", maxNodes=None, minLeafPopulation=minLeafPopulation,
                             maxDepth=maxDepth)


@algorithm("Classifier.svm")
def svm(**kwargs: Any) -> Classifier:
    return libsvm(**kwargs)


@algorithm("Classifier.naiveBayes")
def naive_bayes(**kwargs: Any) -> Classifier:
    return smile_naive_bayes(**kwargs)


# --- algorithms: training and use ------------------------------------------------------------------------

@algorithm("Classifier.train")
def train(classifier: Any, features: Any, classProperty: str,
          inputProperties: Sequence[str] | None = None, subsampling: float = 1.0,
          subsamplingSeed: int = 0) -> Classifier:
    """Reads the training table now (so a bad property fails here) and returns the trained classifier value."""
    where = "Classifier.train"
    clf = Classifier.of(classifier, where)
    rows = training_features(features, where)
    if not rows:
        raise InvalidArgument(f"{where}: the training collection is empty.")
    if not any(classProperty in f.properties for f in rows):
        available = sorted({k for f in rows[:1000] for k in f.properties if not k.startswith("system:")})
        raise InvalidArgument(
            f"{where}: class property '{classProperty}' is not in the training features. Available properties: "
            f"{available}")
    names = list(inputProperties) if inputProperties is not None else default_inputs(rows, [classProperty])
    if not names:
        raise InvalidArgument(f"{where}: no numeric input properties besides '{classProperty}'.")
    if classProperty in names:
        raise InvalidArgument(f"{where}: the class property '{classProperty}' cannot also be an input property.")
    x, extra, _ = feature_table(rows, names, where=where, extra=[classProperty])
    keep = subsample(len(x), float(subsampling), int(subsamplingSeed or 0), where=where)
    training = TrainingData(x[keep], extra[keep, 0], tuple(names), classProperty)
    if not len(training.y):
        raise InvalidArgument(f"{where}: no training features have values for every input in {names}.")
    return dataclasses.replace(clf, training=training)


@algorithm("Classifier.setOutputMode")
def set_output_mode(classifier: Any, mode: str) -> Classifier:
    clf = Classifier.of(classifier, "Classifier.setOutputMode")
    mode = str(mode).upper()
    if mode not in OUTPUT_MODES:
        raise InvalidArgument(f"Classifier.setOutputMode: unknown mode '{mode}'; expected one of {list(OUTPUT_MODES)}.")
    return dataclasses.replace(clf, mode=mode)


@algorithm("Classifier.mode")
def classifier_mode(classifier: Any) -> str:
    return Classifier.of(classifier, "Classifier.mode").mode


@algorithm("Classifier.schema")
def classifier_schema(classifier: Any) -> list[str]:
    clf = Classifier.of(classifier, "Classifier.schema")
    return list(clf.require_training("Classifier.schema").names)


@algorithm("Image.classify")
def image_classify(image: Any, classifier: Any, outputName: str = "classification") -> Image:
    where = "Image.classify"
    clf = Classifier.of(classifier, where)
    training = clf.require_training(where)
    predict, ptype, length = clf.output(where)  # fits now, so training errors surface on this request
    return model_image(as_image(image), training.names, predict, output_name=outputName or "classification",
                       pixel_type=ptype, array_length=length, where=where)


@algorithm("FeatureCollection.classify")
def features_classify(features: Any, classifier: Any,
                      outputName: str = "classification") -> FeatureCollection:
    where = "FeatureCollection.classify"
    clf = Classifier.of(classifier, where)
    training = clf.require_training(where)
    predict, ptype, length = clf.output(where)

    def cast(value: Any) -> Any:
        if length:
            return [float(v) for v in np.asarray(value)]
        return int(value) if ptype.precision == "int" else float(value)

    return predict_features(features, training.names, predict, outputName or "classification", where, cast)


@algorithm("Classifier.confusionMatrix")
def classifier_confusion_matrix(classifier: Any) -> ConfusionMatrix:
    """The resubstitution matrix: the classifier applied to its own training data (classes 0..max)."""
    where = "Classifier.confusionMatrix"
    clf = Classifier.of(classifier, where)
    training = clf.require_training(where)
    classification = dataclasses.replace(clf, mode="CLASSIFICATION")
    model = classification.model(where)
    predicted = _predict_class(classification, model, training.x)
    actual = _class_labels(training.y, where)
    order = None if actual.min() >= 0 and predicted.min() >= 0 else sorted(set(actual) | set(predicted))
    return confusion_from_labels(actual, predicted, order)


@algorithm("Classifier.explain")
def classifier_explain(classifier: Any) -> dict[str, Any]:
    """What was trained: the algorithm, its parameters, inputs, classes and, for trees, importances."""
    where = "Classifier.explain"
    clf = Classifier.of(classifier, where)
    training = clf.require_training(where)
    model = clf.model(where)
    info: dict[str, Any] = {
        "classifier": clf.short_name,
        "outputMode": clf.mode,
        "parameters": {k: v for k, v in clf.params if v is not None},
        "schema": list(training.names),
        "classProperty": training.class_property,
        "numberOfTrainingFeatures": int(len(training.y)),
    }
    if clf.kind() == "classification" and hasattr(model, "classes_"):
        info["classes"] = [int(c) for c in np.asarray(model.classes_)]
    importances = getattr(model, "feature_importances_", None)
    if importances is not None:
        info["importance"] = {name: float(v) for name, v in zip(training.names, importances)}
    estimators = getattr(model, "estimators_", None)
    if estimators is not None:
        info["numberOfTrees"] = int(np.size(estimators))
    oob = getattr(model, "oob_score_", None)
    if oob is not None and np.isfinite(oob):
        # scikit-learn gives the OOB accuracy (classification) or R^2 (regression); Earth Engine reports an error.
        info["outOfBagErrorEstimate"] = float(1.0 - oob)
    if hasattr(model, "tree_"):
        info["numberOfNodes"] = int(model.tree_.node_count)
        info["maxDepth"] = int(model.tree_.max_depth)
    if isinstance(model, MinimumDistance):
        info["classMeans"] = {str(int(c)): m.tolist() for c, m in zip(model.classes_, model.means_)}
    return info
